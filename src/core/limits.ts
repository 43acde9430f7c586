/**
 * Every bound and default the store uses, with its unit (spec/log-engine.md, section 11.4).
 */
import assert from 'node:assert/strict';

/** Largest `event` JSON accepted, in UTF-8 bytes (store-contract 5.6). Larger: INVALID_ARGUMENT. */
export const EVENT_BYTES_MAX = 4 * 1024 * 1024;
/** Room for `{"seq":…,"at":"…","event":` and `}` around an event. */
export const FRAME_WRAPPER_BYTES_MAX = 128;
/** The largest frame payload written or read. */
export const FRAME_PAYLOAD_BYTES_MAX = EVENT_BYTES_MAX + FRAME_WRAPPER_BYTES_MAX;
/** u32 length + u32 CRC, as the Rust store writes them. */
export const FRAME_HEADER_BYTES = 8;

/** Live events a subscription buffers before it drops them and re-reads from the log. */
export const SUBSCRIBER_EVENTS_BUFFERED_MAX = 1024;
/** Events per catch-up page of a subscription. */
export const SUBSCRIBE_PAGE_EVENTS = 512;

assert(FRAME_PAYLOAD_BYTES_MAX > EVENT_BYTES_MAX);
assert(FRAME_PAYLOAD_BYTES_MAX < 2 ** 24); // the top byte of every valid length is zero

/**
 * Deepest metadata nesting accepted. serde_json refuses documents nested deeper than 128 levels,
 * and the frame payload and event objects take two of them, so the Rust store can read every
 * event this project writes.
 */
export const METADATA_DEPTH_MAX = 100;

/** Jobs drained into one batch (one fsync). */
export const BATCH_DRAFTS_MAX = 1024;
/** Staged frame bytes in one batch; a job that would cross it waits for the next batch. */
export const BATCH_BYTES_MAX = 16 * 1024 * 1024;
/** Watermark slots per SharedArrayBuffer chunk (8 bytes each). */
export const WATERMARK_SLOTS_PER_CHUNK = 1024;
/** Write jobs in flight per book before OVERLOADED (default of the `queueDepthMax` option). */
export const QUEUE_DEPTH_MAX_DEFAULT = 4096;
/** Warning code for trial-balance sums that reached an i64 bound. */
export const I64_SATURATION_WARNING = 'SUMS_SATURATED';
/**
 * Descriptors one worker holds at once, at most: the active segments it keeps open between
 * batches, the files of snapshot and idempotency work, short reads and directory fsyncs. The
 * process's descriptor limit usually lowers it (src/log/fd-budget.ts).
 */
export const SEGMENT_FDS_OPEN_MAX = 256;
/** The smallest useful share of a worker: an active segment, a directory fsync, a read, a snapshot file. */
export const WORKER_FDS_MIN = 4;
/** Descriptors left to the application and to Node: a quarter of the limit, and at least this many. */
export const FDS_RESERVED_MIN = 64;
/** Descriptors each worker thread's own event loop takes (epoll, eventfd, ...), outside any budget. */
export const FDS_PER_WORKER_THREAD = 4;
/** The soft RLIMIT_NOFILE assumed where it cannot be read (not Linux): macOS's default, the lowest common one. */
export const FDS_LIMIT_FALLBACK = 256;
/** The largest `fdsMax` accepted (option or TALEA_LOG_FDS_MAX). */
export const FDS_MAX_LIMIT = 1_048_576;
/** Snapshot bytes encoded and written per slice between batches. */
export const SNAPSHOT_SLICE_BYTES = 256 * 1024;
/**
 * Segment preallocation (src/log/segment.ts, G9): an active segment holding at least
 * PREALLOCATE_FROM_BYTES is grown ahead of its frames by zeros, PREALLOCATE_CHUNK_BYTES at a time,
 * so most batches overwrite allocated blocks and need only an fdatasync.
 */
export const PREALLOCATE_FROM_BYTES = 64 * 1024;
export const PREALLOCATE_CHUNK_BYTES = 1024 * 1024;
