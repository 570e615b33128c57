//! Generic proxy-wasm root and HTTP contexts around a core [`Filter`]. `on_configure`
//! parses and compiles the configuration once into an `Rc` that every HTTP context
//! borrows; a configuration that does not compile is refused (the gateway keeps the
//! last good one, or refuses to start).

use crate::wasm_host::{detect_kind, Counters, WasmHost};
use crate::{Filter, Host};
use portcullis_core::decision::Denial;
use portcullis_core::flow::{self, Action as FlowAction, HostKind, LogContext};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel};
use std::cell::RefCell;
use std::rc::Rc;

/// Parses, validates and compiles a filter's configuration; the error names the field.
pub type Configure<F> = fn(&[u8]) -> Result<F, String>;

/// Registers a filter as this module's root context. Called from the filter crate's
/// `proxy_wasm::main!`. Installs a panic hook that logs the panic before the VM dies.
pub fn register<F: Filter + 'static>(name: &'static str, configure: Configure<F>) {
    std::panic::set_hook(Box::new(move |info| {
        let _ = hostcalls::log(LogLevel::Critical, &format!("{name}: panic: {info}"));
    }));
    proxy_wasm::set_log_level(LogLevel::Info);
    FACTORY.with(|f| {
        *f.borrow_mut() = Some(Box::new(move || -> Box<dyn RootContext> {
            Box::new(Root::<F> {
                name,
                configure,
                filter: None,
                kind: HostKind::Envoy,
                counters: Counters::default(),
            })
        }));
    });
    proxy_wasm::set_root_context(make_root);
}

type RootFactory = Box<dyn Fn() -> Box<dyn RootContext>>;

thread_local! {
    /// proxy-wasm takes a plain `fn` for the root context; the filter's name and
    /// configure function are kept here for it.
    static FACTORY: RefCell<Option<RootFactory>> = const { RefCell::new(None) };
}

fn make_root(_context_id: u32) -> Box<dyn RootContext> {
    FACTORY.with(|f| match f.borrow().as_ref() {
        Some(factory) => factory(),
        None => Box::new(Unregistered),
    })
}

/// Never used in practice (`register` sets the factory first); refuses any
/// configuration so a module without a filter can never start.
struct Unregistered;

impl Context for Unregistered {}

impl RootContext for Unregistered {
    fn on_configure(&mut self, _size: usize) -> bool {
        false
    }
}

struct Root<F> {
    name: &'static str,
    configure: Configure<F>,
    filter: Option<Rc<F>>,
    kind: HostKind,
    counters: Counters,
}

impl<F: Filter + 'static> Context for Root<F> {}

impl<F: Filter + 'static> RootContext for Root<F> {
    fn on_vm_start(&mut self, _size: usize) -> bool {
        self.kind = detect_kind();
        true
    }

    fn on_configure(&mut self, size: usize) -> bool {
        let bytes = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size) {
            Ok(bytes) => bytes.unwrap_or_default(),
            Err(status) => {
                let _ = hostcalls::log(
                    LogLevel::Error,
                    &format!("{}: cannot read configuration: {status:?}", self.name),
                );
                return false;
            }
        };
        match (self.configure)(&bytes) {
            Ok(filter) => {
                self.filter = Some(Rc::new(filter));
                let _ = hostcalls::log(LogLevel::Info, &format!("{}: configured", self.name));
                true
            }
            Err(err) => {
                let _ = hostcalls::log(
                    LogLevel::Error,
                    &format!("{}: configuration rejected: {err}", self.name),
                );
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http::<F> {
            name: self.name,
            filter: self.filter.clone(),
            stream: Default::default(),
            host: WasmHost::new(self.kind, self.counters.clone()),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Http<F: Filter> {
    name: &'static str,
    filter: Option<Rc<F>>,
    stream: F::Stream,
    host: WasmHost,
}

fn action(a: FlowAction) -> Action {
    match a {
        FlowAction::Continue => Action::Continue,
        FlowAction::Pause => Action::Pause,
    }
}

impl<F: Filter + 'static> Http<F> {
    /// No compiled configuration: refuse (fail closed).
    fn unconfigured(&mut self) -> Action {
        let denial = Denial::internal(
            "filter_unconfigured",
            format!("{} has no configuration", self.name),
        );
        let context = LogContext::from_host(&self.host as &dyn Host);
        action(flow::deny(&mut self.host, self.name, &denial, &context))
    }
}

impl<F: Filter + 'static> Context for Http<F> {}

impl<F: Filter + 'static> HttpContext for Http<F> {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        match self.filter.clone() {
            Some(f) => {
                action(f.on_request_headers(&mut self.stream, &mut self.host, end_of_stream))
            }
            None => self.unconfigured(),
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match self.filter.clone() {
            Some(f) => action(f.on_request_body(
                &mut self.stream,
                &mut self.host,
                body_size,
                end_of_stream,
            )),
            None => Action::Pause,
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        match self.filter.clone() {
            Some(f) => {
                action(f.on_response_headers(&mut self.stream, &mut self.host, end_of_stream))
            }
            None => Action::Continue,
        }
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match self.filter.clone() {
            Some(f) => action(f.on_response_body(
                &mut self.stream,
                &mut self.host,
                body_size,
                end_of_stream,
            )),
            None => Action::Continue,
        }
    }
}
