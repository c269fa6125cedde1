//! OTLP/HTTP logs (`POST /v1/logs`): protobuf (`application/x-protobuf`) or JSON
//! (`application/json`), optionally gzip or zstd.

use wire::LogEvent;

use super::IngestError;

/// Decodes an OTLP logs request body (already decompressed).
pub fn decode(content_type: Option<&str>, body: &[u8]) -> Result<Vec<LogEvent>, IngestError> {
    let ct = content_type.unwrap_or("application/x-protobuf").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let result = match ct.as_str() {
        "application/json" => wire::otlp::decode_json(body),
        "application/x-protobuf" | "application/protobuf" | "application/octet-stream" | "" => wire::otlp::decode_protobuf(body),
        other => {
            return Err(IngestError::Malformed(format!(
                "unsupported content-type {other:?} for /v1/logs (use application/x-protobuf or application/json)"
            )));
        }
    };
    result.map_err(|e| IngestError::Malformed(e.to_string()))
}
