//! Generic proxy-wasm root and HTTP contexts around a core [`Filter`]. `on_configure`
//! parses and compiles the configuration once into an `Rc` that every HTTP context
//! borrows; a configuration that does not compile is refused (the gateway keeps the
//! last good one, or refuses to start).
//!
//! Background work (the [`Filter`] hooks `on_tick`, `on_callout_response`, `is_waiting`,
//! `on_resume`): the root context runs the timer and makes every outgoing call, so a
//! call outlives the request that asked for it. A request callback that pauses without
//! answering while the filter says it is waiting is parked: the root context remembers
//! the context id and the stream, and after each tick and call answer switches to that
//! context (`set_effective_context`) and lets the filter resume the request
//! (`resume_http_request`) or answer it. Envoy defers both until the root callback
//! returns. A parked request that goes away (client gone) unparks itself.

use crate::wasm_host::{detect_kind, Counters, WasmHost};
use crate::{Filter, Host};
use portcullis_core::decision::Denial;
use portcullis_core::flow::{
    self, Action as FlowAction, Background, CalloutResponse, HostKind, LogContext,
};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

/// Largest callout answer body read into the module.
const MAX_CALLOUT_BODY: usize = 4 << 20;
/// The timer period that means "as soon as possible".
const WAKE_NOW: Duration = Duration::from_millis(1);

/// Streams parked until background work is done: (HTTP context id, stream).
type Parked<S> = Rc<RefCell<Vec<(u32, Rc<RefCell<S>>)>>>;

/// Parses, validates and compiles a filter's configuration; the error names the field.
pub type Configure<F> = fn(&[u8]) -> Result<F, String>;

/// Registers a filter as this module's root context. Called from the filter crate's
/// `proxy_wasm::main!`. Installs a panic hook that logs the panic before the VM dies.
pub fn register<F: Filter + 'static>(name: &'static str, configure: Configure<F>) {
    // proxy-wasm's `set_log_level` installs its own panic hook the first time: ours
    // goes after it, so the panic line names the filter.
    proxy_wasm::set_log_level(LogLevel::Info);
    std::panic::set_hook(Box::new(move |info| {
        let _ = hostcalls::log(LogLevel::Critical, &format!("{name}: panic: {info}"));
    }));
    FACTORY.with(|f| {
        *f.borrow_mut() = Some(Box::new(move |context_id| -> Box<dyn RootContext> {
            Box::new(Root::<F> {
                name,
                configure,
                filter: None,
                kind: HostKind::Envoy,
                counters: Counters::default(),
                context_id,
                parked: Parked::default(),
                calls: HashMap::new(),
            })
        }));
    });
    proxy_wasm::set_root_context(make_root);
}

type RootFactory = Box<dyn Fn(u32) -> Box<dyn RootContext>>;

thread_local! {
    /// proxy-wasm takes a plain `fn` for the root context; the filter's name and
    /// configure function are kept here for it.
    static FACTORY: RefCell<Option<RootFactory>> = const { RefCell::new(None) };
}

fn make_root(context_id: u32) -> Box<dyn RootContext> {
    FACTORY.with(|f| match f.borrow().as_ref() {
        Some(factory) => factory(context_id),
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

struct Root<F: Filter> {
    name: &'static str,
    configure: Configure<F>,
    filter: Option<Rc<F>>,
    kind: HostKind,
    counters: Counters,
    context_id: u32,
    parked: Parked<F::Stream>,
    /// Calls in flight: host token -> the filter's key.
    calls: HashMap<u32, u64>,
}

fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, message);
}

fn set_tick(period: Option<Duration>) {
    let _ = hostcalls::set_tick_period(period.unwrap_or(Duration::ZERO));
}

impl<F: Filter + 'static> Root<F> {
    /// Carries out what the filter asked: log lines, counters, calls (a call the host
    /// refuses is answered at once as failed), and the next tick.
    fn apply(&mut self, filter: &F, background: Background) {
        let mut queue = VecDeque::from([background]);
        let mut next_tick = None;
        while let Some(work) = queue.pop_front() {
            for (warn, line) in &work.logs {
                log(
                    if *warn {
                        LogLevel::Warn
                    } else {
                        LogLevel::Info
                    },
                    line,
                );
            }
            if !work.counters.is_empty() {
                let mut host = WasmHost::new(self.kind, self.counters.clone());
                for counter in &work.counters {
                    host.count(counter);
                }
            }
            for call in work.callouts {
                let headers: Vec<(&str, &str)> = call
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                match hostcalls::dispatch_http_call(
                    &call.upstream,
                    headers,
                    None,
                    vec![],
                    call.timeout,
                ) {
                    Ok(token) => {
                        self.calls.insert(token, call.key);
                    }
                    Err(status) => {
                        log(
                            LogLevel::Warn,
                            &format!(
                                "{}: cannot call {}: {status:?} (is the cluster defined?)",
                                self.name, call.upstream
                            ),
                        );
                        let failed = CalloutResponse {
                            status: None,
                            body: Vec::new(),
                        };
                        if let Ok(now) = hostcalls::get_current_time() {
                            queue.push_back(filter.on_callout_response(call.key, failed, now));
                        }
                    }
                }
            }
            next_tick = work.next_tick;
        }
        set_tick(next_tick);
    }

    /// Gives every parked request its chance to go on, in its own context.
    fn resume_parked(&mut self, filter: &F) {
        let parked = std::mem::take(&mut *self.parked.borrow_mut());
        if parked.is_empty() {
            return;
        }
        let mut still = Vec::new();
        for (id, stream) in parked {
            if hostcalls::set_effective_context(id).is_err() {
                continue;
            }
            let mut host = WasmHost::new(self.kind, self.counters.clone());
            let action = {
                let mut s = stream.borrow_mut();
                filter.on_resume(&mut s, &mut host)
            };
            match action {
                FlowAction::Continue => {
                    if let Err(status) = hostcalls::resume_http_request() {
                        log(
                            LogLevel::Warn,
                            &format!("{}: cannot resume request: {status:?}", self.name),
                        );
                    }
                }
                FlowAction::Pause => {
                    if filter.is_waiting(&stream.borrow()) {
                        still.push((id, stream));
                    }
                }
            }
        }
        let _ = hostcalls::set_effective_context(self.context_id);
        self.parked.borrow_mut().extend(still);
        if filter.take_wakeup() {
            set_tick(Some(WAKE_NOW));
        }
    }
}

impl<F: Filter + 'static> Context for Root<F> {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some(key) = self.calls.remove(&token_id) else {
            return;
        };
        let Some(filter) = self.filter.clone() else {
            return;
        };
        let status = if num_headers == 0 {
            None
        } else {
            hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
                .ok()
                .flatten()
                .and_then(|s| s.parse::<u16>().ok())
        };
        let body = match (status, body_size) {
            (Some(_), size) if size > 0 => hostcalls::get_buffer(
                BufferType::HttpCallResponseBody,
                0,
                size.min(MAX_CALLOUT_BODY + 1),
            )
            .ok()
            .flatten()
            .unwrap_or_default(),
            _ => Vec::new(),
        };
        let Ok(now) = hostcalls::get_current_time() else {
            return;
        };
        let work = filter.on_callout_response(key, CalloutResponse { status, body }, now);
        self.apply(&filter, work);
        self.resume_parked(&filter);
    }
}

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
                // A first tick at once: it starts any background work (and, for a filter
                // without any, turns the timer off again).
                set_tick(Some(WAKE_NOW));
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

    fn on_tick(&mut self) {
        let Some(filter) = self.filter.clone() else {
            set_tick(None);
            return;
        };
        let Ok(now) = hostcalls::get_current_time() else {
            return;
        };
        let work = filter.on_tick(now);
        self.apply(&filter, work);
        self.resume_parked(&filter);
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http::<F> {
            id: context_id,
            name: self.name,
            filter: self.filter.clone(),
            stream: Default::default(),
            host: WasmHost::new(self.kind, self.counters.clone()),
            parked: self.parked.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Http<F: Filter> {
    id: u32,
    name: &'static str,
    filter: Option<Rc<F>>,
    stream: Rc<RefCell<F::Stream>>,
    host: WasmHost,
    parked: Parked<F::Stream>,
}

impl<F: Filter> Drop for Http<F> {
    fn drop(&mut self) {
        // A request that goes away while parked (client gone) is forgotten.
        if let Ok(mut parked) = self.parked.try_borrow_mut() {
            parked.retain(|(id, _)| *id != self.id);
        }
    }
}

fn action(a: FlowAction) -> Action {
    match a {
        FlowAction::Continue => Action::Continue,
        FlowAction::Pause => Action::Pause,
    }
}

impl<F: Filter + 'static> Http<F> {
    /// After a callback: a pause while the filter waits for background work parks the
    /// request with the root context, and wakes the root's timer if the filter asks.
    fn after(&mut self, filter: &F, result: FlowAction) -> Action {
        if result == FlowAction::Pause && filter.is_waiting(&self.stream.borrow()) {
            self.parked
                .borrow_mut()
                .push((self.id, self.stream.clone()));
        }
        if filter.take_wakeup() {
            // The timer belongs to the root context of the context this is called on.
            set_tick(Some(WAKE_NOW));
        }
        action(result)
    }

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
                let result = f.on_request_headers(
                    &mut self.stream.borrow_mut(),
                    &mut self.host,
                    end_of_stream,
                );
                self.after(&f, result)
            }
            None => self.unconfigured(),
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match self.filter.clone() {
            Some(f) => {
                let result = f.on_request_body(
                    &mut self.stream.borrow_mut(),
                    &mut self.host,
                    body_size,
                    end_of_stream,
                );
                self.after(&f, result)
            }
            None => Action::Pause,
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        match self.filter.clone() {
            Some(f) => action(f.on_response_headers(
                &mut self.stream.borrow_mut(),
                &mut self.host,
                end_of_stream,
            )),
            None => Action::Continue,
        }
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match self.filter.clone() {
            Some(f) => action(f.on_response_body(
                &mut self.stream.borrow_mut(),
                &mut self.host,
                body_size,
                end_of_stream,
            )),
            None => Action::Continue,
        }
    }

    // Trailers end a body (HTTP/2 and gRPC clients and backends, HTTP/1 with trailers
    // enabled): when they follow, no body callback ever sees `end_of_stream`, and a
    // filter still buffering the body (account id in a request body, response account
    // checks, redaction) would let Envoy pass the buffered body on unchecked when the
    // trailers continue. So trailers run the body callback once more, as the end of the
    // body, with the whole buffered body; a filter with nothing pending just continues.

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        match self.filter.clone() {
            Some(f) => {
                let size = buffered_size(BufferType::HttpRequestBody);
                let result =
                    f.on_request_body(&mut self.stream.borrow_mut(), &mut self.host, size, true);
                self.after(&f, result)
            }
            None => Action::Pause,
        }
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        match self.filter.clone() {
            Some(f) => {
                let size = buffered_size(BufferType::HttpResponseBody);
                action(f.on_response_body(
                    &mut self.stream.borrow_mut(),
                    &mut self.host,
                    size,
                    true,
                ))
            }
            None => Action::Continue,
        }
    }
}

/// Size of the body the host has buffered so far (the host clamps the read to it).
fn buffered_size(buffer: BufferType) -> usize {
    hostcalls::get_buffer(buffer, 0, u32::MAX as usize)
        .ok()
        .flatten()
        .map_or(0, |bytes| bytes.len())
}
