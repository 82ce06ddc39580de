#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "clients/cli/verbs.h"

namespace dynclamp::cli {
namespace {

void PrintQueueStatus(const v1::QueueStatus& s) {
  std::printf("queue: %s, %u waiting",
              v1::QueueStatus::State_Name(s.state()).c_str(),
              s.items_waiting());
  if (s.current_item() != 0) {
    std::printf("; running item %lu (%s): sweep %u of %u",
                static_cast<unsigned long>(s.current_item()),
                s.current_name().c_str(), s.run().sweeps_completed(),
                s.run().sweeps_total());
  }
  std::printf("%s\n", s.stop_on_failure() ? " (stops on failure)" : "");
  if (!s.error().empty()) std::printf("  waiting: %s\n", s.error().c_str());
}

// What spec a queued item runs with (fixed when it was added).
std::string ItemSpec(const v1::QueueItem& item) {
  return item.run().spec().ByteSizeLong() > 0 ? "with its spec" : "no spec";
}

void PrintItem(const v1::QueueItem& item) {
  std::printf("%4u  item %-5lu %-24s added %s by %s (%s)\n", item.position(),
              static_cast<unsigned long>(item.id()), item.name().c_str(),
              Time(item.added_unix_ns()).c_str(),
              item.added_by().empty() ? "-" : item.added_by().c_str(),
              ItemSpec(item).c_str());
}

// "back", "front", "before:ID", "after:ID".
v1::Position ParsePosition(const std::string& text) {
  v1::Position p;
  uint64_t id = 0;
  if (text.empty() || text == "back") {
    p.set_back(true);
  } else if (text == "front") {
    p.set_front(true);
  } else if (absl::StartsWith(text, "before:") &&
             absl::SimpleAtoi(text.substr(7), &id)) {
    p.set_before(id);
  } else if (absl::StartsWith(text, "after:") &&
             absl::SimpleAtoi(text.substr(6), &id)) {
    p.set_after(id);
  } else {
    Die("queue", absl::InvalidArgumentError(absl::StrCat(
                     "--position: back, front, before:ID or after:ID, got '",
                     text, "'")));
  }
  return p;
}

struct QueueArgs {
  std::string verb;  // the subcommand
  std::string protocol, spec, session, position, request_id;
  uint64_t id = 0;
  bool now = false;
  bool keep_spec = false;
  uint32_t limit = 20;
};

int QueueVerb(const Globals& g, const QueueArgs& a) {
  auto client = ConnectOrDie(g, "queue " + a.verb);
  const std::string verb = "queue " + a.verb;
  if (a.verb == "add") {
    v1::AddItemRequest r;
    r.set_request_id(a.request_id);
    *r.mutable_position() = ParsePosition(a.position);
    *r.mutable_run() = ReadRunRequest(verb, a.protocol, a.spec, a.session);
    r.set_keep_loaded_spec(a.keep_spec);
    const v1::QueueItem item = OrDie(verb, client->AddQueueItem(r));
    std::printf("item %lu queued at position %u, %s%s\n",
                static_cast<unsigned long>(item.id()), item.position(),
                !a.spec.empty() ? absl::StrCat("with ", a.spec).c_str()
                : a.keep_spec   ? "with the spec loaded now (a copy)"
                                : "with no spec",
                a.spec.empty() && !a.keep_spec
                    ? " (--spec FILE or --keep-spec to run with one)"
                    : "");
  } else if (a.verb == "list") {
    PrintQueueStatus(OrDie(verb, client->GetQueueStatus()));
    const v1::ListItemsResponse items = OrDie(verb, client->ListQueue());
    for (const auto& item : items.items()) PrintItem(item);
  } else if (a.verb == "show") {
    const v1::QueueItem item = OrDie(verb, client->GetQueueItem(a.id));
    PrintItem(item);
    std::printf("%s\n", item.run().protocol_source().c_str());
  } else if (a.verb == "move") {
    PrintItem(
        OrDie(verb, client->MoveQueueItem(a.id, ParsePosition(a.position))));
  } else if (a.verb == "remove") {
    const v1::QueueItem item = OrDie(verb, client->RemoveQueueItem(a.id));
    std::printf("item %lu removed\n", static_cast<unsigned long>(item.id()));
  } else if (a.verb == "clear") {
    PrintQueueStatus(OrDie(verb, client->ClearQueue()));
  } else if (a.verb == "start") {
    PrintQueueStatus(OrDie(verb, client->StartQueue()));
  } else if (a.verb == "stop") {
    PrintQueueStatus(OrDie(verb, client->StopQueue()));
  } else if (a.verb == "pause") {
    PrintQueueStatus(OrDie(verb, client->PauseQueue(a.now)));
  } else if (a.verb == "resume") {
    PrintQueueStatus(OrDie(verb, client->ResumeQueue()));
  } else if (a.verb == "abort") {
    PrintQueueStatus(OrDie(verb, client->AbortCurrent()));
  } else if (a.verb == "status") {
    PrintQueueStatus(OrDie(verb, client->GetQueueStatus()));
  }
  return 0;
}

int History(const Globals& g, uint32_t limit) {
  auto client = ConnectOrDie(g, "history");
  const v1::ListHistoryResponse history =
      OrDie("history", client->ListHistory(limit));
  for (const auto& e : history.entries()) {
    std::string status = v1::ExitStatus_Name(e.status());
    status = status.substr(0, status.find("_ITEM"));
    std::printf("%4lu  item %-5lu %-20s %-11s %s -> %s  sweeps %u/%u  %s%s%s\n",
                static_cast<unsigned long>(e.id()),
                static_cast<unsigned long>(e.item_id()), e.name().c_str(),
                status.c_str(), Time(e.started_unix_ns()).c_str(),
                Time(e.ended_unix_ns()).c_str(), e.sweeps_completed(),
                e.sweeps_total(),
                e.nwb_path().empty() ? "" : e.nwb_path().c_str(),
                e.error().empty() ? "" : "  error: ", e.error().c_str());
  }
  return 0;
}

int Lock(const Globals& g, const std::string& verb, bool force) {
  auto client = ConnectOrDie(g, "lock");
  v1::LockStatus s;
  if (verb == "acquire") {
    s = OrDie("lock acquire", client->AcquireLock());
  } else if (verb == "release") {
    s = OrDie("lock release", client->ReleaseLock(force));
  } else {
    s = OrDie("lock", client->GetLock());
  }
  if (s.held()) {
    std::printf("locked by %s since %s\n", s.owner().c_str(),
                Time(s.since_unix_ns()).c_str());
  } else {
    std::printf("unlocked\n");
  }
  return 0;
}

}  // namespace

void AddQueueVerbs(CLI::App& app, Globals& g) {
  auto qa = std::make_shared<QueueArgs>();
  auto* queue = app.add_subcommand("queue", "the overnight queue");
  queue->require_subcommand(1);
  auto* q_add = queue->add_subcommand("add", "queue a protocol (and a spec)");
  q_add->add_option("PROTOCOL", qa->protocol, "YAML or JSON protocol")
      ->required();
  q_add->add_option("--spec", qa->spec, "load this spec before it runs");
  q_add->add_flag("--keep-spec", qa->keep_spec,
                  "run it with the spec loaded now (its text is copied into "
                  "the item); without --spec or this, it runs with no spec");
  q_add->add_option("--session", qa->session,
                    "session metadata (YAML/JSON) for its recording");
  q_add->add_option("--position", qa->position,
                    "back (default), front, before:ID or after:ID");
  q_add->add_option("--request-id", qa->request_id,
                    "makes retries idempotent: the same id adds once");
  queue->add_subcommand("list", "the items waiting, in order");
  auto* q_show = queue->add_subcommand("show", "one item and its protocol");
  q_show->add_option("ID", qa->id)->required();
  auto* q_move = queue->add_subcommand("move", "move an item");
  q_move->add_option("ID", qa->id)->required();
  q_move
      ->add_option("--position", qa->position,
                   "back, front, before:ID or after:ID")
      ->required();
  auto* q_remove = queue->add_subcommand("remove", "remove an item");
  q_remove->add_option("ID", qa->id)->required();
  queue->add_subcommand("clear", "remove every waiting item");
  queue->add_subcommand("start", "run the items one after another");
  queue->add_subcommand("stop", "stop after the current item");
  auto* q_pause =
      queue->add_subcommand("pause", "pause the current item after its sweep");
  q_pause->add_flag("--now", qa->now, "pause at once (the sweep is replayed)");
  queue->add_subcommand("resume", "resume the paused item");
  queue->add_subcommand("abort", "abort the current item; the queue goes on");
  queue->add_subcommand("status", "the queue's state");
  OnVerb(queue, g, [&g, qa, queue] {
    qa->verb = queue->get_subcommands().front()->get_name();
    return QueueVerb(g, *qa);
  });

  auto* history =
      app.add_subcommand("history", "finished queue items, newest first");
  history->add_option("--limit", qa->limit, "how many")->capture_default_str();
  OnVerb(history, g, [&g, qa] { return History(g, qa->limit); });
  auto lock_verb = std::make_shared<std::string>("status");
  auto* lock = app.add_subcommand(
      "lock", "own the rig (others can still watch): acquire, release, status");
  lock->add_option("VERB", *lock_verb, "acquire, release or status")
      ->check(CLI::IsMember({"acquire", "release", "status"}));
  auto force = std::make_shared<bool>(false);
  lock->add_flag("--force", *force,
                 "release another operator's lock (admin role)");
  OnVerb(lock, g,
         [&g, lock_verb, force] { return Lock(g, *lock_verb, *force); });
}

}  // namespace dynclamp::cli
