//! What a `tools/call` answers the client: the tool's result, a tool
//! error the model reads, or a protocol error; and its error type, as the
//! metrics count it.

use nexus_sdk::{FetchResponse, one_line};
use rmcp::ErrorData;
use rmcp::model::{
    CallToolResponse, CallToolResult, ElicitRequestParams, ErrorCode, InputRequiredResult,
};

use crate::answer::fetched;
use crate::calls::Caller;
use crate::failure::Failure;
use crate::principal::Principal;
use crate::tools::{Fetch, failure, structured};

/// MCP 2025-11-25's code for `URLElicitationRequiredError` (rmcp names none).
pub(crate) const URL_ELICITATION_REQUIRED: i32 = -32042;

/// What a tool call answers.
pub(crate) enum Answer {
    /// The API's answer to a fetch.
    Fetched(FetchResponse),
    /// The providers.
    Listed(CallToolResult),
    /// MCP 2026-07-28: the user's input is needed first.
    InputRequired(InputRequiredResult),
    /// `serve`, a 2025 client that takes URL elicitation: the user must go
    /// to this URL first (`-32042`).
    UrlRequired(ElicitRequestParams),
}

/// The SDK's error as the call's failure (asking the Gateway, or the
/// request, as `failure` says): a provider the user must
/// connect (`--connect` may send them to consent) is told apart, with the
/// command that connects it for stdio's operator (`serve` names no
/// workspace to the model: the person connects, or the operator does).
pub(crate) fn failed(failure: Failure, fetch: &Fetch, principal: &Principal) -> Failure {
    let error = match failure {
        Failure::Sdk(error) | Failure::Gateway(error) if error.needs_connection() => error,
        other => return other,
    };
    let command = match principal {
        Principal::Operator { workspace } => {
            let (ws, p) = (one_line(workspace), one_line(&fetch.provider));
            Some(format!("nexus connect {ws} {p}"))
        }
        Principal::Person { .. } | Principal::Agent { .. } => None,
    };
    Failure::Unconnected { error, command }
}

/// MCP 2025-11-25's `URLElicitationRequiredError`: the call cannot go on
/// until the user has been to the elicitation's URL; the client sends them
/// there, and calls again.
fn url_required(elicitation: ElicitRequestParams) -> ErrorData {
    let data = serde_json::json!({ "elicitations": [elicitation] });
    let why = "the user must connect a provider first: the client sends them to the \
               elicitation's URL, then calls again";
    ErrorData::new(ErrorCode(URL_ELICITATION_REQUIRED), why, Some(data))
}

/// `answer` as the client reads it, and its error type for the metrics
/// ("" for a success; a tool error's code; a protocol error's number): a
/// failure only the operator can mend is said to a person without its
/// detail, and no workspace id reaches the model where `caller` hides it.
pub(crate) fn replied(
    answer: Result<Answer, Failure>,
    caller: &Caller,
) -> (Result<CallToolResponse, ErrorData>, String) {
    let error = answer.as_ref().err().map_or("", Failure::code).to_owned();
    let replied = match answer {
        Ok(Answer::Fetched((status, headers, body))) => {
            let (text, fetched) = fetched(status, &headers, &body);
            Ok(structured(text, &fetched).into())
        }
        Ok(Answer::Listed(result)) => Ok(result.into()),
        Ok(Answer::InputRequired(input)) => Ok(input.into()),
        Ok(Answer::UrlRequired(elicitation)) => {
            let code = URL_ELICITATION_REQUIRED.to_string();
            return (Err(url_required(elicitation)), code);
        }
        Err(why) if caller.principal.is_served() && why.operator_only() => {
            let who = caller.principal.who().unwrap_or_default();
            let text = one_line(&why.for_the_model(&who).to_string());
            Ok(failure(caller.quoted(text)).into())
        }
        Err(why) => Ok(failure(caller.told(&why)).into()),
    };
    (replied, error)
}
