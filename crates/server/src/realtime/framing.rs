//! The framing limits of both sockets of a relay.

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Socket buffers; idle sockets are the common case, so they stay small
/// (reads of 4 KiB, nginx's default; a larger frame grows the buffer).
const READ_BUFFER: usize = 4 << 10;
const WRITE_BUFFER: usize = 8 << 10;

/// The framing limits of both sockets of a relay: messages and frames of
/// up to `max_message` bytes (`PROXY_MAX_SOCKET_MESSAGE`).
pub fn socket_config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(WRITE_BUFFER.saturating_add(max_message.saturating_mul(2)))
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}
