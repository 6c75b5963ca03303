//! The events queue on the runtime: the consumer (`queue` entry) of both the
//! events queue and its dead-letter queue, and the producer binding a
//! project's object hands notifications to. What to do with each message is
//! `app::events`'s decision.

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::{future_to_promise, JsFuture};

use super::origin::FetchOrigin;
use crate::app::events::{deliver, keep_failed, QueueVerdict};
use crate::events::Notification;

/// The producer binding of the events queue.
pub const EVENTS_QUEUE_BINDING: &str = "EVENTS";
/// A consumed queue whose name ends so is the dead-letter queue.
const DEAD_LETTER_SUFFIX: &str = "-dlq";

#[wasm_bindgen]
extern "C" {
    /// A batch of messages, as the runtime hands it to `queue`.
    pub type QueueBatch;
    #[wasm_bindgen(method, getter)]
    fn queue(this: &QueueBatch) -> String;
    #[wasm_bindgen(method, getter)]
    fn messages(this: &QueueBatch) -> js_sys::Array;

    type QueueMessage;
    #[wasm_bindgen(method, getter)]
    fn body(this: &QueueMessage) -> JsValue;
    #[wasm_bindgen(method, getter)]
    fn attempts(this: &QueueMessage) -> u32;
    #[wasm_bindgen(method)]
    fn ack(this: &QueueMessage);
    #[wasm_bindgen(method)]
    fn retry(this: &QueueMessage, options: &JsValue);

    /// A queue's producer binding.
    pub type Producer;
    #[wasm_bindgen(method, catch, js_name = sendBatch)]
    fn send_batch(this: &Producer, messages: &JsValue) -> Result<js_sys::Promise, JsValue>;
}

/// The queue handler: each message delivered (or, from the dead-letter
/// queue, kept) one after another, then acknowledged or retried as decided.
#[wasm_bindgen(js_name = queue)]
pub fn queue_entry(batch: QueueBatch, env: worker::Env, _ctx: worker::worker_sys::Context) -> js_sys::Promise {
    future_to_promise(async move { consume(batch, env).await.map(|()| JsValue::UNDEFINED) })
}

async fn consume(batch: QueueBatch, env: worker::Env) -> Result<(), JsValue> {
    let dead_letters = batch.queue().ends_with(DEAD_LETTER_SUFFIX);
    let config = super::config(&env);
    let objects = super::bindings(&env);
    for message in batch.messages().iter() {
        let message: QueueMessage = message.unchecked_into();
        let body = message.body().as_string().unwrap_or_default();
        let (verdict, line) = match (dead_letters, config.as_ref(), objects.as_ref()) {
            (true, _, Ok((_, objects))) => keep_failed(objects, &body).await,
            (false, Ok(config), _) => {
                deliver(&FetchOrigin, config.events.as_ref(), &body, message.attempts(), super::now()).await
            }
            // Misconfigured: nothing can be decided; the message waits for a fix.
            _ => (
                QueueVerdict::RetryAfter { seconds: 60 },
                serde_json::json!({"queue": batch.queue(), "detail": "keygate is not configured"}),
            ),
        };
        worker::console_log!("{line}");
        match verdict {
            QueueVerdict::Ack => message.ack(),
            QueueVerdict::RetryAfter { seconds } => {
                let options = js_sys::Object::new();
                js_sys::Reflect::set(&options, &"delaySeconds".into(), &JsValue::from(seconds as u32))?;
                message.retry(&options);
            }
        }
    }
    Ok(())
}

/// Hands `notices` to the events queue in one batch (at most 100, as the queue takes).
pub async fn send(queue: &Producer, notices: &[Notification]) -> Result<(), String> {
    let messages = js_sys::Array::new();
    for notice in notices {
        let json = serde_json::to_string(notice).map_err(|e| e.to_string())?;
        let message = js_sys::Object::new();
        js_sys::Reflect::set(&message, &"body".into(), &JsValue::from_str(&json)).map_err(|e| format!("{e:?}"))?;
        js_sys::Reflect::set(&message, &"contentType".into(), &"text".into()).map_err(|e| format!("{e:?}"))?;
        messages.push(&message);
    }
    let sent = queue.send_batch(&messages).map_err(|e| format!("{e:?}"))?;
    JsFuture::from(sent).await.map(|_| ()).map_err(|e| format!("{e:?}"))
}

/// The events queue's producer binding, if this deployment has it.
pub fn producer(env: &worker::Env) -> Option<Producer> {
    let queue = js_sys::Reflect::get(env, &JsValue::from_str(EVENTS_QUEUE_BINDING)).ok()?;
    (!queue.is_undefined() && !queue.is_null()).then(|| queue.unchecked_into())
}
