//! The client-facing APIs the gateway serves, recognised by method and path.

/// The request formats the gateway understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// OpenAI `POST /v1/chat/completions`.
    ChatCompletions,
    /// Anthropic `POST /v1/messages`.
    Messages,
    /// OpenAI `POST /v1/responses`.
    Responses,
    /// `GET /v1/models`, answered by the gateway from its catalog.
    ListModels,
    /// `GET /v1/gateway/usage`: the team's fleet-wide usage, answered by the rate limit
    /// service once the filter authenticated the team.
    Usage,
}

impl Api {
    pub fn path(self) -> &'static str {
        match self {
            Api::ChatCompletions => "/v1/chat/completions",
            Api::Messages => "/v1/messages",
            Api::Responses => "/v1/responses",
            Api::ListModels => "/v1/models",
            Api::Usage => "/v1/gateway/usage",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Api::ChatCompletions => "chat_completions",
            Api::Messages => "messages",
            Api::Responses => "responses",
            Api::ListModels => "models",
            Api::Usage => "usage",
        }
    }
}

/// The dry run: `POST /v1/gateway/check` with a request body answers the gateway's verdict
/// on it (`crate::dryrun`), and forwards nothing.
pub const CHECK_PATH: &str = "/v1/gateway/check";

/// What a method and path ask for.
#[derive(Debug, PartialEq, Eq)]
pub enum Endpoint {
    Api(Api),
    /// `POST /v1/gateway/check`.
    Check,
    /// A known path with the wrong method; carries the method it needs.
    WrongMethod(&'static str),
    Unknown,
}

/// Recognises the endpoint. The query string is ignored; a trailing slash is tolerated.
pub fn endpoint(method: &[u8], path: &[u8]) -> Endpoint {
    let path = path.split(|b| *b == b'?').next().unwrap_or_default();
    let path = path.strip_suffix(b"/").unwrap_or(path);
    let (api, wanted): (Api, &[u8]) = match path {
        b"/v1/chat/completions" => (Api::ChatCompletions, b"POST"),
        b"/v1/messages" => (Api::Messages, b"POST"),
        b"/v1/responses" => (Api::Responses, b"POST"),
        b"/v1/models" => (Api::ListModels, b"GET"),
        b"/v1/gateway/check" if method == b"POST" => return Endpoint::Check,
        b"/v1/gateway/check" => return Endpoint::WrongMethod("POST"),
        b"/v1/gateway/usage" => (Api::Usage, b"GET"),
        _ => return Endpoint::Unknown,
    };
    if method == wanted {
        Endpoint::Api(api)
    } else if wanted == b"POST" {
        Endpoint::WrongMethod("POST")
    } else {
        Endpoint::WrongMethod("GET")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_paths_and_methods() {
        assert_eq!(
            endpoint(b"POST", b"/v1/chat/completions"),
            Endpoint::Api(Api::ChatCompletions)
        );
        assert_eq!(
            endpoint(b"POST", b"/v1/chat/completions/"),
            Endpoint::Api(Api::ChatCompletions)
        );
        assert_eq!(
            endpoint(b"POST", b"/v1/messages?beta=true"),
            Endpoint::Api(Api::Messages)
        );
        assert_eq!(endpoint(b"GET", b"/v1/models"), Endpoint::Api(Api::ListModels));
        assert_eq!(endpoint(b"GET", b"/v1/chat/completions"), Endpoint::WrongMethod("POST"));
        assert_eq!(endpoint(b"POST", b"/v1/models"), Endpoint::WrongMethod("GET"));
        assert_eq!(endpoint(b"POST", b"/v1/responses"), Endpoint::Api(Api::Responses));
        assert_eq!(endpoint(b"GET", b"/v1/gateway/usage"), Endpoint::Api(Api::Usage));
        assert_eq!(endpoint(b"POST", b"/v1/gateway/usage"), Endpoint::WrongMethod("GET"));
        assert_eq!(endpoint(b"POST", b"/v1/embeddings"), Endpoint::Unknown);
        assert_eq!(endpoint(b"POST", b"/admin"), Endpoint::Unknown);
        assert_eq!(endpoint(b"POST", b""), Endpoint::Unknown);
        assert_eq!(
            endpoint(b"POST", b"/v1/gateway/check?endpoint=messages"),
            Endpoint::Check
        );
        assert_eq!(endpoint(b"GET", b"/v1/gateway/check"), Endpoint::WrongMethod("POST"));
    }
}
