//! Kafka topic ids: a topic deleted and created again under the same name
//! gets a new id, and its log starts over. librdkafka reports ids only
//! through the DescribeTopics admin call, which rust-rdkafka does not wrap;
//! this is the one place gapwatch calls librdkafka's C API for it.

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char};
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};

/// The ids of those of `topics` that exist, by name (base64, as Kafka's
/// tools print them).
pub fn describe<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topics: &[&str],
    timeout: Duration,
) -> Result<HashMap<String, String>, String> {
    if topics.is_empty() {
        return Ok(HashMap::new());
    }
    let names: Vec<CString> = topics
        .iter()
        .map(|t| CString::new(*t).map_err(|_| format!("topic name {t:?} has a NUL byte")))
        .collect::<Result<_, _>>()?;
    let mut ptrs: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
    let rk = consumer.client().native_ptr();
    // SAFETY: `rk` is the live handle `consumer` owns for this whole call;
    // `ptrs` point into `names`, alive until the end; every object created
    // here is destroyed before returning, and what librdkafka returns inside
    // the event is only read before the event is destroyed.
    unsafe {
        let collection = rd::rd_kafka_TopicCollection_of_topic_names(ptrs.as_mut_ptr(), ptrs.len());
        let queue = rd::rd_kafka_queue_new(rk);
        rd::rd_kafka_DescribeTopics(rk, collection, std::ptr::null(), queue);
        let event =
            rd::rd_kafka_queue_poll(queue, timeout.as_millis().min(i32::MAX as u128) as i32);
        let result = if event.is_null() {
            Err(format!("no answer to DescribeTopics within {timeout:?}"))
        } else if rd::rd_kafka_event_error(event)
            != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
        {
            Err(text(rd::rd_kafka_event_error_string(event)))
        } else {
            let res = rd::rd_kafka_event_DescribeTopics_result(event);
            let mut n = 0usize;
            let descs = rd::rd_kafka_DescribeTopics_result_topics(res, &mut n);
            let mut ids = HashMap::new();
            for i in 0..n {
                let d = *descs.add(i);
                let err = rd::rd_kafka_TopicDescription_error(d);
                if !err.is_null()
                    && rd::rd_kafka_error_code(err)
                        != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
                {
                    continue; // no such topic (any more)
                }
                let id = rd::rd_kafka_TopicDescription_topic_id(d);
                if id.is_null() {
                    continue;
                }
                ids.insert(
                    text(rd::rd_kafka_TopicDescription_name(d)),
                    text(rd::rd_kafka_Uuid_base64str(id)),
                );
            }
            Ok(ids)
        };
        if !event.is_null() {
            rd::rd_kafka_event_destroy(event);
        }
        rd::rd_kafka_queue_destroy(queue);
        rd::rd_kafka_TopicCollection_destroy(collection);
        result
    }
}

/// Copies a C string librdkafka owns.
///
/// # Safety
/// `p` is null or a valid NUL-terminated string.
unsafe fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: as the caller promises.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}
