#include "simulators/drill_runner.h"

#include <chrono>
#include <cstdio>
#include <queue>
#include <zmq.hpp>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/client/alert_client.h"
#include "engine/client/feed_listener.h"
#include "engine/client/operator_client.h"
#include "engine/dispatch/dispatch_core.h"
#include "simulators/random.h"

namespace gz::sim {
namespace {

// Professional forces take over an incident no unit could serve.
constexpr absl::Duration kEscalatedHandover = absl::Minutes(30);
constexpr absl::Duration kCloseAfterResolve = absl::Minutes(2);

// What the simulated operators do in reaction to events: resolve an incident some minutes after its
// first unit arrived (or after professional forces took an escalated one over), close it after.
// Shared by both modes so they behave alike.
class OperatorPlan {
 public:
  OperatorPlan(const ResponderBehaviour& behaviour, Random& random)
      : behaviour_(behaviour), random_(random) {}

  struct Step {
    absl::Time at;
    IncidentId incident;
    bool close;  // false: resolve
  };

  // The steps `e` causes (none for most events).
  std::vector<Step> React(const Event& e) {
    std::vector<Step> steps;
    absl::Time resolve_at;
    IncidentId incident = 0;
    if (const auto* arrived = std::get_if<UnitArrived>(&e.body)) {
      incident = arrived->incident;
      resolve_at = e.at + absl::Minutes(random_.Uniform(behaviour_.on_scene_minutes_min,
                                                        behaviour_.on_scene_minutes_max));
    } else if (const auto* changed = std::get_if<IncidentStateChanged>(&e.body);
               changed && changed->to == IncidentState::kEscalated) {
      incident = changed->incident;
      resolve_at = e.at + kEscalatedHandover;
    }
    if (incident != 0 && handled_.insert(incident).second) {
      steps.push_back({resolve_at, incident, false});
      steps.push_back({resolve_at + kCloseAfterResolve, incident, true});
    }
    return steps;
  }

 private:
  const ResponderBehaviour& behaviour_;
  Random& random_;
  absl::flat_hash_set<IncidentId> handled_;
};

struct Scheduled {
  absl::Time at;
  uint64_t order;  // equal times keep scheduling order
  CommandBody command;
  bool operator>(const Scheduled& o) const { return at != o.at ? at > o.at : order > o.order; }
};

}  // namespace

absl::StatusOr<DrillRecord> RunInProcessDrill(const CityData& city, const DispatchConfig& config,
                                              const Scenario& scenario,
                                              const std::vector<ScheduledAlert>& alerts) {
  auto registry = UnitRegistry::Create(city.units, city.projection, config.travel);
  if (!registry.ok()) return registry.status();
  auto core = DispatchCore::Create(config, city.map.get(), *std::move(registry), scenario.start);
  if (!core.ok()) return core.status();

  Random random(scenario.seed, 7);
  OperatorPlan operators(scenario.responders, random);
  std::priority_queue<Scheduled, std::vector<Scheduled>, std::greater<>> queue;
  uint64_t order = 0;
  const auto schedule = [&](absl::Time at, CommandBody command) {
    queue.push(Scheduled{at, order++, std::move(command)});
  };
  for (const ScheduledAlert& a : alerts) schedule(a.at, a.alert);

  const ResponderBehaviour& people = scenario.responders;
  DrillRecord record;
  record.scenario_name = scenario.name;
  record.scenario_description = scenario.description;
  record.start = scenario.start;
  record.unit_count = city.units.size();
  const auto wall_start = std::chrono::steady_clock::now();
  std::vector<Event> events;
  for (;;) {
    const std::optional<absl::Time> deadline = (*core)->NextDeadline();
    if (queue.empty() && !deadline) break;
    Command command;
    if (!queue.empty() && (!deadline || queue.top().at <= *deadline)) {
      command = Command{queue.top().at, queue.top().command};
      queue.pop();
    } else {
      command = Command{*deadline, AdvanceTime{}};
    }
    events.clear();
    (*core)->Apply(command, &events);
    for (const Event& e : events) {
      if (const auto* issued = std::get_if<AssignmentIssued>(&e.body)) {
        const double roll = random.Uniform();
        if (roll < people.decline_share) {
          schedule(e.at + absl::Seconds(random.Uniform(3, 20)),
                   DeclineAssignment{issued->unit, issued->assignment,
                                     static_cast<DeclineReason>(1 + random.Below(4))});
        } else if (roll >= people.decline_share + people.silence_share) {
          const absl::Duration ack = absl::Seconds(2 + random.Exponential(people.ack_delay_mean_s));
          schedule(e.at + ack, AckAssignment{issued->unit, issued->assignment});
          schedule(e.at + ack + absl::Seconds(issued->eta_s),
                   ReportArrival{issued->unit, issued->assignment});
        }
      }
      for (const OperatorPlan::Step& step : operators.React(e)) {
        if (step.close) {
          schedule(step.at, CloseIncident{step.incident});
        } else {
          schedule(step.at, ResolveIncident{step.incident});
        }
      }
    }
    record.events.insert(record.events.end(), events.begin(), events.end());
  }
  record.end = std::max(scenario.end(), (*core)->now());
  record.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return record;
}

absl::StatusOr<DrillRecord> RunLiveDrill(const CityData& city, const Scenario& scenario,
                                         const std::vector<ScheduledAlert>& alerts,
                                         const LiveDrillOptions& options) {
  if (!(options.speed > 0)) return absl::InvalidArgumentError("--speed must be positive");
  zmq::context_t context;
  const absl::Duration timeout = absl::Seconds(5);
  auto feed = client::FeedListener::Connect(context, options.feed_endpoint,
                                            options.operator_endpoint, timeout, options.curve);
  if (!feed.ok()) return feed.status();
  auto intake = client::AlertClient::Create(context, {.endpoint = options.intake_endpoint,
                                                      .reporter_id = "drill",
                                                      .timeout = timeout,
                                                      .curve = options.curve});
  if (!intake.ok()) return intake.status();
  auto ops =
      client::OperatorClient::Create(context, options.operator_endpoint, timeout, options.curve);
  if (!ops.ok()) return ops.status();

  // Scenario time <-> wall time: the engine runs on the wall clock, the report on the scenario's.
  const absl::Time wall_start = absl::Now();
  const auto to_wall = [&](absl::Time scenario_time) {
    return wall_start + (scenario_time - scenario.start) / options.speed;
  };
  const auto to_scenario = [&](absl::Time wall_time) {
    return scenario.start + (wall_time - wall_start) * options.speed;
  };

  Random random(scenario.seed, 7);
  OperatorPlan operators(scenario.responders, random);
  std::vector<OperatorPlan::Step> steps;  // in wall time
  DrillRecord record;
  record.scenario_name = scenario.name;
  record.scenario_description = scenario.description;
  record.start = scenario.start;
  record.unit_count = city.units.size();

  size_t next_alert = 0;
  uint64_t sent = 0, refused = 0, failed = 0;
  absl::flat_hash_set<IncidentId> open;
  absl::Time next_progress = wall_start + options.progress_every;
  const absl::Time last_alert_wall = alerts.empty() ? wall_start : to_wall(alerts.back().at);
  const absl::Time give_up = last_alert_wall + options.drain / options.speed;
  for (;;) {
    const absl::Time now = absl::Now();
    while (next_alert < alerts.size() && to_wall(alerts[next_alert].at) <= now) {
      const RaiseAlert& a = alerts[next_alert++].alert;
      client::Alert alert;
      alert.reporter_id = a.reporter_id;
      alert.client_sequence = a.client_sequence;
      alert.position = a.position;
      alert.category = a.category;
      alert.level = a.level;
      absl::StatusOr<client::AlertOutcome> outcome = (*intake)->Raise(alert);
      ++sent;
      if (!outcome.ok()) {
        ++failed;
        continue;
      }
      // Replies are not on the feed: record them as the core emitted them in-process.
      const absl::Time answered = to_scenario(absl::Now());
      if (outcome->accepted) {
        open.insert(outcome->incident_id);  // known now, before its feed events arrive
        record.events.push_back(
            Event{answered, AlertAccepted{a.reporter_id, a.client_sequence, outcome->incident_id,
                                          outcome->merged, outcome->duplicate}});
      } else {
        ++refused;
      }
    }
    std::sort(steps.begin(), steps.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
    while (!steps.empty() && steps.front().at <= now) {
      const OperatorPlan::Step step = steps.front();
      steps.erase(steps.begin());
      (void)(step.close ? (*ops)->Close(step.incident) : (*ops)->Resolve(step.incident));
    }
    if (next_alert == alerts.size() && (open.empty() || now >= give_up) && steps.empty()) break;
    if (now >= give_up + absl::Minutes(1)) break;

    // Take feed events until the next thing is due.
    absl::Time wake = now + absl::Milliseconds(100);
    if (next_alert < alerts.size()) wake = std::min(wake, to_wall(alerts[next_alert].at));
    if (!steps.empty()) wake = std::min(wake, steps.front().at);
    if (give_up > now) wake = std::min(wake, give_up);
    absl::StatusOr<std::optional<client::FeedEvent>> got =
        (*feed)->Next(std::max(absl::ZeroDuration(), wake - absl::Now()));
    if (!got.ok()) return got.status();
    if (got->has_value()) {
      Event e = (*got)->event;
      e.at = to_scenario(e.at);
      if (const auto* opened = std::get_if<IncidentOpened>(&e.body)) open.insert(opened->incident);
      if (const auto* changed = std::get_if<IncidentStateChanged>(&e.body);
          changed &&
          (changed->to == IncidentState::kResolved || changed->to == IncidentState::kCancelled)) {
        open.erase(changed->incident);
      }
      for (OperatorPlan::Step step : operators.React(e)) {
        step.at = to_wall(step.at);
        steps.push_back(step);
      }
      record.events.push_back(std::move(e));
    }
    if (absl::Now() >= next_progress) {
      std::fprintf(stderr,
                   "drill: scenario time %s, %llu/%zu alerts sent (%llu refused, %llu failed), "
                   "%zu incidents open, %zu feed events\n",
                   FormatLocalTime(to_scenario(absl::Now())).c_str(),
                   static_cast<unsigned long long>(sent), alerts.size(),
                   static_cast<unsigned long long>(refused),
                   static_cast<unsigned long long>(failed), open.size(), record.events.size());
      next_progress = absl::Now() + options.progress_every;
    }
  }
  // The last commands' events (the final closes) are still on their way: read the feed until it
  // has been quiet for a moment.
  for (;;) {
    absl::StatusOr<std::optional<client::FeedEvent>> got = (*feed)->Next(absl::Milliseconds(300));
    if (!got.ok() || !got->has_value()) break;
    Event e = (*got)->event;
    e.at = to_scenario(e.at);
    record.events.push_back(std::move(e));
  }
  record.end = std::max(scenario.end(), to_scenario(absl::Now()));
  record.wall_seconds = absl::ToDoubleSeconds(absl::Now() - wall_start);
  if ((*feed)->gaps() > 0) {
    std::fprintf(stderr, "drill: the feed skipped %llu times; the report may miss events\n",
                 static_cast<unsigned long long>((*feed)->gaps()));
  }
  return record;
}

}  // namespace gz::sim
