// The daemon's server streams (WatchRun, Subscribe) as gRPC callback
// reactors. Nothing polls: the Instrument's run notifier and a
// Subscription's waker push, and the reactor writes. Each keeps one write
// in flight; what arrives meanwhile waits where it is bounded (the latest
// run; the subscription's queue, which counts what it loses). Each stream
// finishes exactly once: OK when the client cancels or goes away, the
// subscription's close status (UNAVAILABLE at shutdown, ABORTED when the
// rig is reconfigured), UNAVAILABLE for WatchRun at shutdown after the
// final run. A stream holds its Instrument::StreamSlot until gRPC is done
// with it, so Instrument::WaitStreamsClosed() waits for open streams.
//
// Threads: reactions run on gRPC's callback threads, pushes on the
// Instrument's notifier thread and the fan-out's drain thread; every
// entry point takes the reactor's lock, and none blocks.
#ifndef DYNCLAMP_SERVER_API_STREAM_REACTORS_H_
#define DYNCLAMP_SERVER_API_STREAM_REACTORS_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "dynclamp/v1/runs.pb.h"
#include "dynclamp/v1/stream.pb.h"
#include "server/instrument/instrument.h"

namespace dynclamp::server {

// A stream that finishes at once with `status` (a refused call).
template <typename Message>
grpc::ServerWriteReactor<Message>* FinishedStream(grpc::Status status);

// WatchRun: the run now, then each change, while the client listens.
grpc::ServerWriteReactor<v1::Run>* StartRunWatch(
    Instrument& inst, std::unique_ptr<Instrument::StreamSlot> slot);

// Subscribe: the header chunk (signals, units, sample period), then the
// subscription's chunks as the fan-out queues them. Unsubscribes when done.
grpc::ServerWriteReactor<v1::Chunk>* StartSubscription(
    Instrument& inst, std::unique_ptr<Instrument::StreamSlot> slot,
    std::shared_ptr<Subscription> sub);

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_API_STREAM_REACTORS_H_
