//! JSON-RPC envelopes as clients send them: the data plane's id reader (echoed in its errors) and
//! the tool router's message parsing (rmcp's types).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/invariants/mod.rs"]
mod invariants;

fuzz_target!(|body: &[u8]| {
    invariants::check_request_id(body);
    // The tool router reads the body as rmcp's client message: any body, no panic.
    let _ = serde_json::from_slice::<rmcp::model::ClientJsonRpcMessage>(body);
});
