// The stream reactors behind WatchRun and Subscribe, served in-process over
// loopback: what each sends first, that changes are pushed, how each
// finishes (cancel, reconfiguration, shutdown), and that a finished stream
// gives its slot back.
#include "server/api/stream_reactors.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "dynclamp/v1/runs.grpc.pb.h"
#include "dynclamp/v1/stream.grpc.pb.h"
#include "server/api/auth/access.h"
#include "server/api/grpc_services.h"
#include "server/instrument/instrument.h"
#include "tests/server/instrument/one_cell_instrument.h"

namespace dynclamp::server {
namespace {

class StreamReactorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InstrumentOptions o = testing::OneCellInstrument();
    o.fanout.chunk_duration = absl::Milliseconds(1);
    auto inst = Instrument::Create(o);
    ASSERT_TRUE(inst.ok()) << inst.status();
    inst_ = *std::move(inst);
    run_service_ = std::make_unique<RunServiceImpl>(*inst_, gate_);
    stream_service_ = std::make_unique<StreamServiceImpl>(*inst_, gate_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(gate_.InterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
    builder.RegisterService(run_service_.get());
    builder.RegisterService(stream_service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                       grpc::InsecureChannelCredentials());
    runs_ = v1::RunService::NewStub(channel);
    streams_ = v1::StreamService::NewStub(channel);
  }
  void TearDown() override {
    if (inst_ != nullptr) inst_->Shutdown();
    if (server_ != nullptr) server_->Shutdown();
  }

  // Reads runs until one is in `state` (or the stream ends).
  static bool ReadUntil(grpc::ClientReaderInterface<v1::Run>& reader,
                        v1::RunState state, v1::Run* last) {
    while (reader.Read(last)) {
      if (last->state() == state) return true;
    }
    return false;
  }

  AccessGate gate_{nullptr, nullptr};
  std::unique_ptr<Instrument> inst_;
  std::unique_ptr<RunServiceImpl> run_service_;
  std::unique_ptr<StreamServiceImpl> stream_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::RunService::Stub> runs_;
  std::unique_ptr<v1::StreamService::Stub> streams_;
};

TEST_F(StreamReactorsTest, WatchRunSendsTheRunNowEachChangeAndTheLastRun) {
  grpc::ClientContext ctx;
  auto reader = runs_->WatchRun(&ctx, v1::WatchRunRequest());
  v1::Run run;
  ASSERT_TRUE(reader->Read(&run));
  EXPECT_EQ(run.state(), v1::IDLE) << "the run as it is when watching starts";
  ASSERT_TRUE(inst_->StartRun(0).ok());
  ASSERT_TRUE(ReadUntil(*reader, v1::RUNNING, &run)) << "pushed, not asked";
  const uint64_t id = run.run_id();
  inst_->Shutdown();
  ASSERT_TRUE(ReadUntil(*reader, v1::ABORTED, &run));
  EXPECT_EQ(run.run_id(), id);
  EXPECT_FALSE(reader->Read(&run)) << "nothing after the last run";
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_TRUE(inst_->WaitStreamsClosed(absl::Seconds(5)));
}

TEST_F(StreamReactorsTest, SubscribeSendsTheHeaderThenChunksUntilCancelled) {
  ASSERT_TRUE(inst_->StartRun(0).ok());
  grpc::ClientContext ctx;
  v1::SubscribeRequest req;
  req.add_signals("cell0.v_mv");
  req.set_decimation(10);
  auto reader = streams_->Subscribe(&ctx, req);
  v1::Chunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  ASSERT_EQ(chunk.signals_size(), 1);
  EXPECT_EQ(chunk.signals(0), "cell0.v_mv");
  EXPECT_EQ(chunk.units(0), "mV");
  EXPECT_EQ(chunk.sample_period_ns(), 10 * inst_->GetRig().period_ns());
  EXPECT_EQ(chunk.num_samples(), 0u) << "the header carries no samples";
  uint64_t next = 0;
  for (int k = 0; k < 20; ++k) {
    ASSERT_TRUE(reader->Read(&chunk));
    ASSERT_GT(chunk.num_samples(), 0u);
    ASSERT_EQ(chunk.values_size(), static_cast<int>(chunk.num_samples()));
    if (k > 0) {
      EXPECT_EQ(chunk.first_sample_index(), next) << "contiguous";
    }
    next = chunk.first_sample_index() + 10 * chunk.num_samples();
    EXPECT_EQ(chunk.samples_lost(), 0u);
  }
  ctx.TryCancel();
  while (reader->Read(&chunk)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(inst_->WaitStreamsClosed(absl::Seconds(5)))
      << "a cancelled stream gives its slot back";
  EXPECT_EQ(inst_->GetHealth().subscriber_losses.size(), 0u)
      << "and its subscription";
}

TEST_F(StreamReactorsTest, AReconfiguredRigEndsSubscriptionsAborted) {
  grpc::ClientContext ctx;
  v1::SubscribeRequest req;
  req.add_signals("cell0.v_mv");
  auto reader = streams_->Subscribe(&ctx, req);
  v1::Chunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));  // the header
  v1::ConfigureChannelsRequest channels;
  *channels.mutable_channels() = inst_->GetRig().channels();
  ASSERT_TRUE(inst_->ConfigureChannels(channels).ok());
  while (reader->Read(&chunk)) {
  }
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED)
      << status.error_message();
  EXPECT_TRUE(inst_->WaitStreamsClosed(absl::Seconds(5)));
}

TEST_F(StreamReactorsTest, ARefusedSubscriptionFinishesAtOnceNamingTheField) {
  grpc::ClientContext ctx;
  v1::SubscribeRequest req;
  req.add_signals("cell9.v_mv");
  auto reader = streams_->Subscribe(&ctx, req);
  v1::Chunk chunk;
  EXPECT_FALSE(reader->Read(&chunk));
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("signals[0]: no signal named"),
            std::string::npos)
      << status.error_message();
  EXPECT_TRUE(inst_->WaitStreamsClosed(absl::Seconds(5)));
}

TEST_F(StreamReactorsTest, StreamsOpenHoldTheirSlotsUntilDone) {
  grpc::ClientContext ctx;
  auto reader = runs_->WatchRun(&ctx, v1::WatchRunRequest());
  v1::Run run;
  ASSERT_TRUE(reader->Read(&run));
  EXPECT_FALSE(inst_->WaitStreamsClosed(absl::Milliseconds(50)))
      << "a watcher is open";
  ctx.TryCancel();
  while (reader->Read(&run)) {
  }
  reader->Finish();
  EXPECT_TRUE(inst_->WaitStreamsClosed(absl::Seconds(5)));
}

}  // namespace
}  // namespace dynclamp::server
