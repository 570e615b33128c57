//! A proxy-wasm HTTP filter that does nothing, or repeats one host call: what an Envoy Wasm
//! filter costs per request before it does any work of its own (a context per request, the
//! callbacks into the VM), and what each host call the Portcullis filters make costs.
//!
//! Plugin configuration: empty (do nothing) or `<call>:<count>`, the call made `count`
//! times on every request's headers, one of:
//! `route_name` (get_property xds.route_name), `route_metadata` (get_property
//! xds.route_metadata.filter_metadata.portcullis.requirement), `get_headers` (get_map of
//! the request headers), `get_header` (get_map_value :path), `set_header` (set_map_value),
//! `set_property` (set_property of a 300-byte value), `get_property` (get_property of a
//! value set by this filter), `metric` (increment_metric of a counter defined once).

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

#[derive(Clone, Copy, Default)]
enum Call {
    #[default]
    Nothing,
    RouteName,
    RouteMetadata,
    GetHeaders,
    GetHeader,
    SetHeader,
    SetProperty,
    GetProperty,
    Metric(u32),
}

#[derive(Default)]
struct Root {
    call: Call,
    count: usize,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, size: usize) -> bool {
        let text = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size)
            .ok()
            .flatten()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let (name, count) = text.split_once(':').unwrap_or((text.as_str(), "0"));
        self.count = count.trim().parse().unwrap_or(0);
        self.call = match name.trim() {
            "" => Call::Nothing,
            "route_name" => Call::RouteName,
            "route_metadata" => Call::RouteMetadata,
            "get_headers" => Call::GetHeaders,
            "get_header" => Call::GetHeader,
            "set_header" => Call::SetHeader,
            "set_property" => Call::SetProperty,
            "get_property" => Call::GetProperty,
            "metric" => match hostcalls::define_metric(MetricType::Counter, "bench_noop_calls") {
                Ok(id) => Call::Metric(id),
                Err(_) => return false,
            },
            _ => return false,
        };
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            call: self.call,
            count: self.count,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Stream {
    call: Call,
    count: usize,
}

impl Context for Stream {}

const VALUE: &[u8] = &[b'x'; 300];

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        if let Call::GetProperty = self.call {
            let _ = hostcalls::set_property(vec!["bench_noop"], Some(VALUE));
        }
        for i in 0..self.count {
            let _ = match self.call {
                Call::Nothing => Ok(()),
                Call::RouteName => hostcalls::get_property(vec!["xds", "route_name"]).map(drop),
                Call::RouteMetadata => hostcalls::get_property(vec![
                    "xds",
                    "route_metadata",
                    "filter_metadata",
                    "portcullis",
                    "requirement",
                ])
                .map(drop),
                Call::GetHeaders => hostcalls::get_map(MapType::HttpRequestHeaders).map(drop),
                Call::GetHeader => hostcalls::get_map_value(MapType::HttpRequestHeaders, ":path").map(drop),
                Call::SetHeader => hostcalls::set_map_value(
                    MapType::HttpRequestHeaders,
                    &format!("x-bench-{i}"),
                    Some("value"),
                ),
                Call::SetProperty => hostcalls::set_property(vec!["bench_noop"], Some(VALUE)),
                Call::GetProperty => hostcalls::get_property(vec!["bench_noop"]).map(drop),
                Call::Metric(id) => hostcalls::increment_metric(id, 1),
            };
        }
        Action::Continue
    }
}
