//! A proxy-wasm HTTP filter that repeats one host call N times per request, for
//! `scripts/bench --host-calls` (integration/bench/host_calls.py): the slope of Envoy's CPU
//! per request against N is what one such call costs, apart from the callbacks every wasm
//! filter pays (the empty filter, variant B, is this module at N = 0).
//!
//! Configuration: `KIND:N`, e.g. `set_property:32`. Kinds are those the genai filter makes
//! on a request (see `Kind`); `hold` pauses the headers until the body has ended, as the
//! genai filter does to inspect it (N is ignored). Calls whose result is irrelevant here
//! ignore it; the bench checks every response is a 2xx.

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, MapType, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| Box::new(ProbeRoot::default()));
}}

#[derive(Clone, Copy, PartialEq, Eq, Default)]
enum Kind {
    /// No call: the callbacks alone (variant B's cost).
    #[default]
    None,
    /// `proxy_get_header_map_pairs(request_headers)`.
    HeaderPairs,
    /// `proxy_get_header_map_value(request_headers, :path)`.
    Header,
    /// `proxy_replace_header_map_value(request_headers, x-probe-K, value)`: N new headers.
    SetHeader,
    /// `proxy_set_property(probe_K, value)`: N new filter-state values, as the genai filter
    /// sets each of its properties once.
    SetProperty,
    /// `proxy_get_property(request, path)`.
    GetProperty,
    /// `proxy_get_current_time_nanoseconds`.
    Now,
    /// `proxy_increment_metric` on a counter defined at configuration.
    Counter,
    /// `proxy_record_metric` on a histogram defined at configuration.
    Histogram,
    /// `proxy_get_buffer_bytes(request_body)` of the whole body, at its end (with `hold`).
    ReadBody,
    /// `proxy_set_buffer_bytes(request_body, 0, 16, 16 bytes)` at the body's end (with `hold`).
    SetBody,
    /// Pauses the headers until the body has ended, then continues: Envoy buffers the body.
    Hold,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "none" => Kind::None,
            "header_pairs" => Kind::HeaderPairs,
            "header" => Kind::Header,
            "set_header" => Kind::SetHeader,
            "set_property" => Kind::SetProperty,
            "get_property" => Kind::GetProperty,
            "now" => Kind::Now,
            "counter" => Kind::Counter,
            "histogram" => Kind::Histogram,
            "read_body" => Kind::ReadBody,
            "set_body" => Kind::SetBody,
            "hold" => Kind::Hold,
            _ => return None,
        })
    }

    /// Whether the headers wait for the body (the body-buffer kinds need all of it).
    fn holds(self) -> bool {
        matches!(self, Kind::Hold | Kind::ReadBody | Kind::SetBody)
    }
}

#[derive(Default)]
struct Probe {
    kind: Kind,
    n: u32,
    counter: u32,
    histogram: u32,
    /// `probe_K` and `x-probe-K` for K < N, built once.
    properties: Vec<String>,
    headers: Vec<String>,
}

#[derive(Default)]
struct ProbeRoot {
    probe: Rc<Probe>,
}

impl Context for ProbeRoot {}

impl RootContext for ProbeRoot {
    fn on_configure(&mut self, size: usize) -> bool {
        let config = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size)
            .ok()
            .flatten()
            .unwrap_or_default();
        let config = String::from_utf8_lossy(&config);
        let (kind, n) = config.trim().split_once(':').unwrap_or(("none", "0"));
        let (Some(kind), Ok(n)) = (Kind::parse(kind), n.parse::<u32>()) else {
            let _ = hostcalls::log(
                proxy_wasm::types::LogLevel::Error,
                "host-probe: configuration is KIND:N",
            );
            return false;
        };
        let counter = hostcalls::define_metric(MetricType::Counter, "probe_counter").unwrap_or(0);
        let histogram = hostcalls::define_metric(MetricType::Histogram, "probe_histogram").unwrap_or(0);
        let properties = (0..n).map(|k| format!("probe_{k}")).collect();
        let headers = (0..n).map(|k| format!("x-probe-{k}")).collect();
        self.probe = Rc::new(Probe {
            kind,
            n,
            counter,
            histogram,
            properties,
            headers,
        });
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(ProbeHttp {
            probe: Rc::clone(&self.probe),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct ProbeHttp {
    probe: Rc<Probe>,
}

impl Context for ProbeHttp {}

impl ProbeHttp {
    fn repeat_on_headers(&self) {
        let p = &*self.probe;
        for i in 0..p.n as usize {
            match p.kind {
                Kind::HeaderPairs => {
                    let _ = hostcalls::get_map(MapType::HttpRequestHeaders);
                }
                Kind::Header => {
                    let _ = hostcalls::get_map_value(MapType::HttpRequestHeaders, ":path");
                }
                Kind::SetHeader => {
                    let name = p.headers.get(i).map_or("x-probe", String::as_str);
                    let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some("team-abc"));
                }
                Kind::SetProperty => {
                    let name = p.properties.get(i).map_or("probe", String::as_str);
                    let _ = hostcalls::set_property(vec![name], Some(b"team-abc"));
                }
                Kind::GetProperty => {
                    let _ = hostcalls::get_property(vec!["request", "path"]);
                }
                Kind::Now => {
                    let _ = hostcalls::get_current_time();
                }
                Kind::Counter => {
                    let _ = hostcalls::increment_metric(p.counter, 1);
                }
                Kind::Histogram => {
                    let _ = hostcalls::record_metric(p.histogram, 40);
                }
                Kind::None | Kind::Hold | Kind::ReadBody | Kind::SetBody => return,
            }
        }
    }

    fn repeat_on_body(&self, size: usize) {
        let p = &*self.probe;
        for _ in 0..p.n {
            match p.kind {
                Kind::ReadBody => {
                    let _ = hostcalls::get_buffer(BufferType::HttpRequestBody, 0, size);
                }
                Kind::SetBody => {
                    let _ = hostcalls::set_buffer(BufferType::HttpRequestBody, 0, 16, b"{\"model\":\"gpt-4o");
                }
                _ => return,
            }
        }
    }
}

impl HttpContext for ProbeHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.repeat_on_headers();
        if self.probe.kind.holds() && !end_of_stream {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if !self.probe.kind.holds() {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.repeat_on_body(size);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        Action::Continue
    }

    fn on_http_response_body(&mut self, _body_size: usize, _end_of_stream: bool) -> Action {
        Action::Continue
    }

    fn on_log(&mut self) {}
}
