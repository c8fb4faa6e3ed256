//! How the horizontal pod autoscaler turns a metric proposal into the replicas it sets
//! (pkg/controller/podautoscaler/horizontal.go, v1.34): stabilization over a recorded history
//! of recommendations, rate limits from the scaling policies over a recorded history of scale
//! events, and the min/max bounds, each with the reason the `ScalingLimited` and `AbleToScale`
//! conditions report.
//!
//! Two paths, as in Kubernetes:
//! - an autoscaler **without `behavior`** takes the highest recommendation of the last
//!   downscale stabilization window (300 s) and may at most double its replicas (or reach 4)
//!   per sync (`normalizeDesiredReplicas`);
//! - one **with `behavior`** (completed with the defaults by admission) stabilizes up and down
//!   with its own windows, and limits the change per policy period from the scale events of that
//!   period (`normalizeDesiredReplicasWithBehaviors`).

use flotilla_model::api::{HpaScalingPolicyType, HpaScalingRules, ScalingPolicySelect};
use flotilla_model::{Duration, Time};

use crate::pods::secs;

/// A recommendation made at a time (horizontal.go `timestampedRecommendation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampedRecommendation {
    /// The unstabilized replicas proposed.
    pub recommendation: i32,
    /// When.
    pub timestamp: Time,
}

/// A change of the replicas made at a time (horizontal.go `timestampedScaleEvent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampedScaleEvent {
    /// How many replicas were added (in the scale-up list) or removed (scale-down list).
    pub replica_change: i32,
    /// When.
    pub timestamp: Time,
    /// Older than the longest policy period: free to be replaced by a new event.
    pub outdated: bool,
}

/// What one autoscaler remembers between syncs: the controller's `recommendations`,
/// `scaleUpEvents` and `scaleDownEvents` for its key. Like Kubernetes', it lives in the
/// controller's memory only: a restarted controller starts afresh.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// Recent unstabilized recommendations.
    pub recommendations: Vec<TimestampedRecommendation>,
    /// Recent scale ups.
    pub scale_up_events: Vec<TimestampedScaleEvent>,
    /// Recent scale downs.
    pub scale_down_events: Vec<TimestampedScaleEvent>,
}

/// A normalized replica count, with the reason and message of the condition it sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Normalized {
    /// The replicas to set.
    pub replicas: i32,
    /// The `AbleToScale` reason (`ReadyForNewScale`, `ScaleUpStabilized`,
    /// `ScaleDownStabilized`) and message.
    pub able_to_scale: (&'static str, &'static str),
    /// Whether `ScalingLimited` is true, and its reason (`DesiredWithinRange`,
    /// `TooManyReplicas`, `TooFewReplicas`, `ScaleUpLimit`, `ScaleDownLimit`) and message.
    pub scaling_limited: (bool, &'static str, &'static str),
}

/// The inputs of a normalization (horizontal.go `NormalizationArg`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormalizationArg {
    /// The scale-up rules, completed with the defaults.
    pub scale_up: HpaScalingRules,
    /// The scale-down rules, completed with the defaults (window 300 s when unset).
    pub scale_down: HpaScalingRules,
    /// `minReplicas`.
    pub min_replicas: i32,
    /// `maxReplicas`.
    pub max_replicas: i32,
    /// The target's replicas now.
    pub current_replicas: i32,
    /// The proposal of the metrics.
    pub desired_replicas: i32,
}

const READY_FOR_NEW_SCALE: (&str, &str) =
    ("ReadyForNewScale", "recommended size matches current size");
const SCALE_UP_STABILIZED: (&str, &str) = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
);
const SCALE_DOWN_STABILIZED: (&str, &str) = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent \
     recommendation",
);
const DESIRED_WITHIN_RANGE: (&str, &str) = (
    "DesiredWithinRange",
    "the desired count is within the acceptable range",
);
const TOO_MANY_REPLICAS: (&str, &str) = (
    "TooManyReplicas",
    "the desired replica count is more than the maximum replica count",
);
const TOO_FEW_REPLICAS: (&str, &str) = (
    "TooFewReplicas",
    "the desired replica count is less than the minimum replica count",
);
const SCALE_UP_LIMIT: (&str, &str) = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
);
const SCALE_DOWN_LIMIT: (&str, &str) = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
);

/// Whether `t` is after `now - window` (`t.After(cutoff)`), without going below time zero.
fn within(t: Time, window: Duration, now: Time) -> bool {
    t.saturating_add(window) > now
}

/// Whether `t` is before `now - window` (`t.Before(cutoff)`).
fn older_than(t: Time, window: Duration, now: Time) -> bool {
    t.saturating_add(window) < now
}

impl History {
    /// Records the current replicas as the first recommendation of a new autoscaler
    /// (horizontal.go `recordInitialRecommendation`), so that it does not scale down within its
    /// first stabilization window.
    pub fn record_initial_recommendation(&mut self, current_replicas: i32, now: Time) {
        if self.recommendations.is_empty() {
            self.recommendations.push(TimestampedRecommendation {
                recommendation: current_replicas,
                timestamp: now,
            });
        }
    }

    /// Records `recommendation`, reusing the slot of one older than `obsolete` if any.
    fn record(&mut self, recommendation: i32, old_slot: Option<usize>, now: Time) {
        let rec = TimestampedRecommendation {
            recommendation,
            timestamp: now,
        };
        match old_slot.and_then(|i| self.recommendations.get_mut(i)) {
            Some(slot) => *slot = rec,
            None => self.recommendations.push(rec),
        }
    }

    /// horizontal.go `stabilizeRecommendation` (no `behavior`): the highest recommendation of
    /// the last `window`, this one included; records this one.
    pub fn stabilize_recommendation(&mut self, desired: i32, window: Duration, now: Time) -> i32 {
        let mut max_recommendation = desired;
        let mut old_slot = None;
        for (i, rec) in self.recommendations.iter().enumerate() {
            if older_than(rec.timestamp, window, now) {
                old_slot = Some(i);
            } else if rec.recommendation > max_recommendation {
                max_recommendation = rec.recommendation;
            }
        }
        self.record(desired, old_slot, now);
        max_recommendation
    }

    /// horizontal.go `normalizeDesiredReplicas` (no `behavior`): stabilize over `window`, then
    /// bound by min, max and the scale-up limit of `max(2 × current, 4)`.
    pub fn normalize_desired_replicas(
        &mut self,
        current_replicas: i32,
        desired_replicas: i32,
        min_replicas: i32,
        max_replicas: i32,
        window: Duration,
        now: Time,
    ) -> Normalized {
        let stabilized = self.stabilize_recommendation(desired_replicas, window, now);
        let able_to_scale = if stabilized != desired_replicas {
            SCALE_DOWN_STABILIZED
        } else {
            READY_FOR_NEW_SCALE
        };
        let (replicas, (reason, message)) = convert_desired_replicas_with_rules(
            current_replicas,
            stabilized,
            min_replicas,
            max_replicas,
        );
        Normalized {
            replicas,
            able_to_scale,
            scaling_limited: (replicas != stabilized, reason, message),
        }
    }

    /// horizontal.go `normalizeDesiredReplicasWithBehaviors`: stabilize with the windows of
    /// both directions, then limit the rate by the policies and bound by min and max.
    pub fn normalize_desired_replicas_with_behaviors(
        &mut self,
        arg: &NormalizationArg,
        now: Time,
    ) -> Normalized {
        let (stabilized, stabilized_reason) =
            self.stabilize_recommendation_with_behaviors(arg, now);
        let able_to_scale = if stabilized != arg.desired_replicas {
            stabilized_reason
        } else {
            READY_FOR_NEW_SCALE
        };
        let arg = NormalizationArg {
            desired_replicas: stabilized,
            ..arg.clone()
        };
        let (replicas, (reason, message)) =
            self.convert_desired_replicas_with_behavior_rate(&arg, now);
        Normalized {
            replicas,
            able_to_scale,
            scaling_limited: (replicas != stabilized, reason, message),
        }
    }

    /// horizontal.go `stabilizeRecommendationWithBehaviors`: the recommendation kept between the
    /// lowest recommendation of the scale-up window and the highest of the scale-down window
    /// (both including this one), starting from the current replicas; records this one.
    pub fn stabilize_recommendation_with_behaviors(
        &mut self,
        arg: &NormalizationArg,
        now: Time,
    ) -> (i32, (&'static str, &'static str)) {
        let up_window = secs(arg.scale_up.stabilization_window_seconds.unwrap_or(0));
        let down_window = secs(arg.scale_down.stabilization_window_seconds.unwrap_or(0));
        let mut up_recommendation = arg.desired_replicas;
        let mut down_recommendation = arg.desired_replicas;
        let mut old_slot = None;
        for (i, rec) in self.recommendations.iter().enumerate() {
            if within(rec.timestamp, up_window, now) {
                up_recommendation = up_recommendation.min(rec.recommendation);
            }
            if within(rec.timestamp, down_window, now) {
                down_recommendation = down_recommendation.max(rec.recommendation);
            }
            if older_than(rec.timestamp, up_window, now)
                && older_than(rec.timestamp, down_window, now)
            {
                old_slot = Some(i);
            }
        }
        let recommendation = arg
            .current_replicas
            .max(up_recommendation)
            .min(down_recommendation);
        self.record(arg.desired_replicas, old_slot, now);
        let reason = if arg.desired_replicas >= arg.current_replicas {
            SCALE_UP_STABILIZED
        } else {
            SCALE_DOWN_STABILIZED
        };
        (recommendation, reason)
    }

    /// horizontal.go `convertDesiredReplicasWithBehaviorRate`: the desired replicas bounded by
    /// the policies' rate limits and by min and max.
    pub fn convert_desired_replicas_with_behavior_rate(
        &self,
        arg: &NormalizationArg,
        now: Time,
    ) -> (i32, (&'static str, &'static str)) {
        if arg.desired_replicas > arg.current_replicas {
            let scale_up_limit = calculate_scale_up_limit_with_scaling_rules(
                arg.current_replicas,
                &self.scale_up_events,
                &self.scale_down_events,
                &arg.scale_up,
                now,
            )
            // No further scale up until the events of the period have passed.
            .max(arg.current_replicas);
            let (maximum, limit) = if arg.max_replicas > scale_up_limit {
                (scale_up_limit, SCALE_UP_LIMIT)
            } else {
                (arg.max_replicas, TOO_MANY_REPLICAS)
            };
            if arg.desired_replicas > maximum {
                return (maximum, limit);
            }
        } else if arg.desired_replicas < arg.current_replicas {
            let scale_down_limit = calculate_scale_down_limit_with_behaviors(
                arg.current_replicas,
                &self.scale_up_events,
                &self.scale_down_events,
                &arg.scale_down,
                now,
            )
            .min(arg.current_replicas);
            let (minimum, limit) = if arg.min_replicas < scale_down_limit {
                (scale_down_limit, SCALE_DOWN_LIMIT)
            } else {
                (arg.min_replicas, TOO_FEW_REPLICAS)
            };
            if arg.desired_replicas < minimum {
                return (minimum, limit);
            }
        }
        (arg.desired_replicas, DESIRED_WITHIN_RANGE)
    }

    /// horizontal.go `storeScaleEvent`: records a change from `prev` to `new` replicas in the
    /// list of its direction, reusing the slot of an event older than the direction's longest
    /// policy period. Only autoscalers with `behavior` record events.
    pub fn store_scale_event(
        &mut self,
        scale_up: &HpaScalingRules,
        scale_down: &HpaScalingRules,
        prev: i32,
        new: i32,
        now: Time,
    ) {
        let (events, rules, change) = if new > prev {
            (&mut self.scale_up_events, scale_up, new - prev)
        } else {
            (&mut self.scale_down_events, scale_down, prev - new)
        };
        let longest = secs(longest_policy_period(rules));
        let mut old_slot = None;
        for (i, event) in events.iter_mut().enumerate() {
            if older_than(event.timestamp, longest, now) {
                event.outdated = true;
            }
            if event.outdated {
                old_slot = Some(i);
            }
        }
        let event = TimestampedScaleEvent {
            replica_change: change,
            timestamp: now,
            outdated: false,
        };
        match old_slot {
            Some(i) => events[i] = event,
            None => events.push(event),
        }
    }
}

/// horizontal.go `convertDesiredReplicasWithRules` (no `behavior`): bound by min, and by max or
/// the scale-up limit `max(2 × current, 4)` whichever is lower.
pub fn convert_desired_replicas_with_rules(
    current_replicas: i32,
    desired_replicas: i32,
    min_replicas: i32,
    max_replicas: i32,
) -> (i32, (&'static str, &'static str)) {
    // horizontal.go calculateScaleUpLimit: scaleUpLimitFactor 2, scaleUpLimitMinimum 4.
    let scale_up_limit = current_replicas.saturating_mul(2).max(4);
    let (maximum, limit) = if max_replicas > scale_up_limit {
        (scale_up_limit, SCALE_UP_LIMIT)
    } else {
        (max_replicas, TOO_MANY_REPLICAS)
    };
    if desired_replicas < min_replicas {
        (min_replicas, TOO_FEW_REPLICAS)
    } else if desired_replicas > maximum {
        (maximum, limit)
    } else {
        (desired_replicas, DESIRED_WITHIN_RANGE)
    }
}

/// horizontal.go `getReplicasChangePerPeriod`: the replicas changed by the events of the last
/// `period`.
fn replicas_change_per_period(
    period: Duration,
    events: &[TimestampedScaleEvent],
    now: Time,
) -> i32 {
    events
        .iter()
        .filter(|e| within(e.timestamp, period, now))
        .fold(0i32, |sum, e| sum.saturating_add(e.replica_change))
}

/// horizontal.go `getLongestPolicyPeriod`.
fn longest_policy_period(rules: &HpaScalingRules) -> i32 {
    rules
        .policies
        .iter()
        .map(|p| p.period_seconds)
        .max()
        .unwrap_or(0)
        .max(0)
}

/// The replicas at the start of a policy's period: now, less what was added in it, plus what
/// was removed.
fn period_start_replicas(
    current: i32,
    period_seconds: i32,
    up: &[TimestampedScaleEvent],
    down: &[TimestampedScaleEvent],
    now: Time,
) -> i32 {
    let period = secs(period_seconds);
    current
        .saturating_sub(replicas_change_per_period(period, up, now))
        .saturating_add(replicas_change_per_period(period, down, now))
}

/// horizontal.go `calculateScaleUpLimitWithScalingRules`: the most replicas the scale-up
/// policies allow now (`Max` takes the most permissive policy, `Min` the least, `Disabled`
/// none). A percentage is rounded up so that a small target can always grow.
pub fn calculate_scale_up_limit_with_scaling_rules(
    current: i32,
    up: &[TimestampedScaleEvent],
    down: &[TimestampedScaleEvent],
    rules: &HpaScalingRules,
    now: Time,
) -> i32 {
    let select = rules.select_policy.unwrap_or_default();
    if select == ScalingPolicySelect::Disabled {
        return current;
    }
    let mut result = if select == ScalingPolicySelect::Min {
        i32::MAX
    } else {
        i32::MIN
    };
    for policy in &rules.policies {
        let start = period_start_replicas(current, policy.period_seconds, up, down, now);
        let proposed = match policy.type_.unwrap_or_default() {
            HpaScalingPolicyType::Pods => start.saturating_add(policy.value),
            HpaScalingPolicyType::Percent => {
                (f64::from(start) * (1.0 + f64::from(policy.value) / 100.0)).ceil() as i32
            }
        };
        result = if select == ScalingPolicySelect::Min {
            result.min(proposed)
        } else {
            result.max(proposed)
        };
    }
    result
}

/// horizontal.go `calculateScaleDownLimitWithBehaviors`: the fewest replicas the scale-down
/// policies allow now (`Max` takes the policy removing most, `Min` the one removing least). A
/// percentage is truncated.
pub fn calculate_scale_down_limit_with_behaviors(
    current: i32,
    up: &[TimestampedScaleEvent],
    down: &[TimestampedScaleEvent],
    rules: &HpaScalingRules,
    now: Time,
) -> i32 {
    let select = rules.select_policy.unwrap_or_default();
    if select == ScalingPolicySelect::Disabled {
        return current;
    }
    let mut result = if select == ScalingPolicySelect::Min {
        i32::MIN
    } else {
        i32::MAX
    };
    for policy in &rules.policies {
        let start = period_start_replicas(current, policy.period_seconds, up, down, now);
        let proposed = match policy.type_.unwrap_or_default() {
            HpaScalingPolicyType::Pods => start.saturating_sub(policy.value),
            HpaScalingPolicyType::Percent => {
                (f64::from(start) * (1.0 - f64::from(policy.value) / 100.0)) as i32
            }
        };
        result = if select == ScalingPolicySelect::Min {
            result.max(proposed)
        } else {
            result.min(proposed)
        };
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::api::{default_scale_down_rules, default_scale_up_rules, HpaScalingPolicy};

    fn t(s: u64) -> Time {
        Time::from_secs(s)
    }

    fn policy(type_: HpaScalingPolicyType, value: i32, period_seconds: i32) -> HpaScalingPolicy {
        HpaScalingPolicy {
            type_: Some(type_),
            value,
            period_seconds,
        }
    }

    fn default_arg(current: i32, desired: i32) -> NormalizationArg {
        let mut scale_down = default_scale_down_rules();
        scale_down.stabilization_window_seconds = Some(300);
        NormalizationArg {
            scale_up: default_scale_up_rules(),
            scale_down,
            min_replicas: 1,
            max_replicas: 100,
            current_replicas: current,
            desired_replicas: desired,
        }
    }

    #[test]
    fn default_scale_up_allows_the_larger_of_four_pods_and_doubling_per_15_seconds() {
        let mut h = History::default();
        // From 2: max(2 + 4, 2 × 2) = 6.
        let n = h.normalize_desired_replicas_with_behaviors(&default_arg(2, 50), t(1000));
        assert_eq!(n.replicas, 6);
        assert_eq!(
            n.scaling_limited,
            (true, SCALE_UP_LIMIT.0, SCALE_UP_LIMIT.1)
        );
        h.store_scale_event(
            &default_scale_up_rules(),
            &default_scale_down_rules(),
            2,
            6,
            t(1000),
        );
        // 5 s later the period still holds the +4: start 2, limit 6 → no more.
        let n = h.normalize_desired_replicas_with_behaviors(&default_arg(6, 50), t(1005));
        assert_eq!(n.replicas, 6);
        // 15 s later the period starts at 6: max(10, 12) = 12.
        let n = h.normalize_desired_replicas_with_behaviors(&default_arg(6, 50), t(1015));
        assert_eq!(n.replicas, 12);
        // Bounded by max.
        let mut arg = default_arg(6, 50);
        arg.max_replicas = 8;
        let n = h.normalize_desired_replicas_with_behaviors(&arg, t(1030));
        assert_eq!(n.replicas, 8);
        assert_eq!(n.scaling_limited.1, "TooManyReplicas");
    }

    #[test]
    fn scale_down_waits_for_the_stabilization_window() {
        let mut h = History::default();
        h.record_initial_recommendation(10, t(0));
        // Recommendations of 2 for the next five minutes: the 10 of time 0 holds.
        for s in (15..300).step_by(15) {
            let n = h.normalize_desired_replicas_with_behaviors(&default_arg(10, 2), t(s));
            assert_eq!(n.replicas, 10, "at {s} s");
            assert_eq!(n.able_to_scale.0, "ScaleDownStabilized");
        }
        // At 300 s the 10 is out of the window (only recommendations after the cutoff count).
        let n = h.normalize_desired_replicas_with_behaviors(&default_arg(10, 2), t(300));
        assert_eq!(n.replicas, 2);
        assert_eq!(n.able_to_scale.0, "ReadyForNewScale");
        assert!(!n.scaling_limited.0);
    }

    #[test]
    fn a_scale_down_stabilized_between_recent_recommendations() {
        let mut h = History::default();
        for (s, rec) in [(0, 8), (60, 5), (120, 6)] {
            h.recommendations.push(TimestampedRecommendation {
                recommendation: rec,
                timestamp: t(s),
            });
        }
        // Desired 3 from 10: the highest of the window is 8.
        let n = h.normalize_desired_replicas_with_behaviors(&default_arg(10, 3), t(200));
        assert_eq!(n.replicas, 8);
        // The slot of nothing old is reused: the history grew by one.
        assert_eq!(h.recommendations.len(), 4);
    }

    #[test]
    fn scale_up_stabilization_takes_the_lowest_recent_recommendation() {
        let mut h = History::default();
        h.recommendations.push(TimestampedRecommendation {
            recommendation: 4,
            timestamp: t(90),
        });
        let mut arg = default_arg(3, 9);
        arg.scale_up.stabilization_window_seconds = Some(60);
        let n = h.normalize_desired_replicas_with_behaviors(&arg, t(100));
        assert_eq!(n.replicas, 4);
        assert_eq!(n.able_to_scale.0, "ScaleUpStabilized");
    }

    #[test]
    fn policies_select_max_min_or_disabled() {
        let rules = |select| HpaScalingRules {
            stabilization_window_seconds: Some(0),
            select_policy: Some(select),
            policies: vec![
                policy(HpaScalingPolicyType::Pods, 2, 60),
                policy(HpaScalingPolicyType::Percent, 50, 60),
            ],
            tolerance: None,
        };
        let now = t(1000);
        // Up from 10: +2 → 12, +50% → 15.
        assert_eq!(
            calculate_scale_up_limit_with_scaling_rules(
                10,
                &[],
                &[],
                &rules(ScalingPolicySelect::Max),
                now
            ),
            15
        );
        assert_eq!(
            calculate_scale_up_limit_with_scaling_rules(
                10,
                &[],
                &[],
                &rules(ScalingPolicySelect::Min),
                now
            ),
            12
        );
        assert_eq!(
            calculate_scale_up_limit_with_scaling_rules(
                10,
                &[],
                &[],
                &rules(ScalingPolicySelect::Disabled),
                now
            ),
            10
        );
        // Down from 10: −2 → 8, −50% → 5.
        assert_eq!(
            calculate_scale_down_limit_with_behaviors(
                10,
                &[],
                &[],
                &rules(ScalingPolicySelect::Max),
                now
            ),
            5
        );
        assert_eq!(
            calculate_scale_down_limit_with_behaviors(
                10,
                &[],
                &[],
                &rules(ScalingPolicySelect::Min),
                now
            ),
            8
        );
        assert_eq!(
            calculate_scale_down_limit_with_behaviors(
                10,
                &[],
                &[],
                &rules(ScalingPolicySelect::Disabled),
                now
            ),
            10
        );
        // A percentage rounds up on the way up (1 pod +10% is 2) and down on the way down.
        let up = HpaScalingRules {
            policies: vec![policy(HpaScalingPolicyType::Percent, 10, 60)],
            ..rules(ScalingPolicySelect::Max)
        };
        assert_eq!(
            calculate_scale_up_limit_with_scaling_rules(1, &[], &[], &up, now),
            2
        );
        assert_eq!(
            calculate_scale_down_limit_with_behaviors(5, &[], &[], &up, now),
            4
        );
    }

    #[test]
    fn a_policy_period_counts_the_changes_made_in_it() {
        let rules = HpaScalingRules {
            stabilization_window_seconds: Some(0),
            select_policy: Some(ScalingPolicySelect::Max),
            policies: vec![policy(HpaScalingPolicyType::Pods, 1, 60)],
            tolerance: None,
        };
        let mut h = History::default();
        h.store_scale_event(&rules, &rules, 10, 9, t(100));
        // Within the minute: started at 10, one removed already → 9 is the limit.
        assert_eq!(
            calculate_scale_down_limit_with_behaviors(
                9,
                &h.scale_up_events,
                &h.scale_down_events,
                &rules,
                t(159)
            ),
            9
        );
        // Exactly a minute later the event is out of the period.
        assert_eq!(
            calculate_scale_down_limit_with_behaviors(
                9,
                &h.scale_up_events,
                &h.scale_down_events,
                &rules,
                t(160)
            ),
            8
        );
        // An outdated event's slot is reused.
        h.store_scale_event(&rules, &rules, 9, 8, t(200));
        assert_eq!(h.scale_down_events.len(), 1);
        assert_eq!(h.scale_down_events[0].timestamp, t(200));
    }

    #[test]
    fn without_behavior_the_highest_recommendation_of_five_minutes_wins() {
        let mut h = History::default();
        h.record_initial_recommendation(4, t(0));
        let window = Duration::from_secs(300);
        let n = h.normalize_desired_replicas(4, 1, 1, 10, window, t(100));
        assert_eq!(n.replicas, 4);
        assert_eq!(n.able_to_scale.0, "ScaleDownStabilized");
        // A recommendation exactly at the cutoff still counts.
        let n = h.normalize_desired_replicas(4, 1, 1, 10, window, t(300));
        assert_eq!(n.replicas, 4);
        let n = h.normalize_desired_replicas(4, 1, 1, 10, window, t(401));
        assert_eq!(n.replicas, 1);
        // Scale up limited to max(2 × current, 4).
        let n = h.normalize_desired_replicas(3, 9, 1, 10, window, t(402));
        assert_eq!(n.replicas, 6);
        assert_eq!(
            n.scaling_limited,
            (true, SCALE_UP_LIMIT.0, SCALE_UP_LIMIT.1)
        );
        let n = h.normalize_desired_replicas(1, 9, 1, 10, window, t(403));
        assert_eq!(n.replicas, 4);
        // Bounds: min raises, max caps.
        assert_eq!(convert_desired_replicas_with_rules(5, 1, 2, 10).0, 2);
        assert_eq!(
            convert_desired_replicas_with_rules(5, 1, 2, 10).1 .0,
            "TooFewReplicas"
        );
        assert_eq!(convert_desired_replicas_with_rules(8, 20, 2, 10).0, 10);
        assert_eq!(
            convert_desired_replicas_with_rules(8, 20, 2, 10).1 .0,
            "TooManyReplicas"
        );
    }
}
