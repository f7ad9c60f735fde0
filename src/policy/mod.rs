//! Conditional access: the tenant's policies decide, before any token or assertion leaves,
//! whether a sign-in is allowed, blocked, or must be multi-factor (DESIGN.md "evaluate
//! policy"). [`evaluate`] is one pure function over the policies, the user, the application
//! and the authentication evidence. `services::access` loads what it needs and is what every
//! path that mints a token calls (authorize, refresh, SAML SSO, the end of redemption, My
//! Apps); before any policy it applies the one rule of "assignment required"
//! ([`crate::domain::app::App::admits`]).

use serde::Serialize;

pub use crate::domain::policy::{Control, Policy, PolicyState};
use crate::domain::user::UserType;

/// Who is signing in, as far as policies care.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Object id.
    pub user_id: &'a str,
    /// Member or guest.
    pub user_type: UserType,
    /// Ids of the groups the user belongs to.
    pub groups: &'a [String],
}

/// What is being signed in to, and how strongly the user has authenticated.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The application's `client_id`; `None` for Gatehouse's own pages (My Apps,
    /// redemption), which only `All`-application policies cover.
    pub app: Option<&'a str>,
    /// Whether the evidence is multi-factor.
    pub mfa: bool,
}

/// The overall decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Nothing stands in the way.
    Allow,
    /// The application requires assignment and the user holds none, directly or through a
    /// group (Entra's 50105); conditional access is then not evaluated.
    NotAssigned,
    /// An enabled policy requires MFA that the evidence lacks.
    RequireMfa,
    /// An enabled policy blocks the sign-in.
    Block,
}

/// One policy's result, in Graph's `appliedConditionalAccessPolicy` vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicyResult {
    /// Applied, and its controls were satisfied.
    Success,
    /// Applied, and its controls were not satisfied (blocked or MFA missing).
    Failure,
    /// Its conditions did not match.
    NotApplied,
    /// Disabled.
    NotEnabled,
    /// Report-only: would have applied and been satisfied.
    ReportOnlySuccess,
    /// Report-only: would have blocked.
    ReportOnlyFailure,
    /// Report-only: would not have applied.
    ReportOnlyNotApplied,
    /// Report-only: would have interrupted the user for MFA.
    ReportOnlyInterrupted,
}

/// One policy as evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// Policy id.
    pub id: String,
    /// Policy name.
    pub display_name: String,
    /// The controls it enforces (`block`, `mfa`) when it applies.
    pub enforced_grant_controls: Vec<&'static str>,
    /// The result.
    pub result: PolicyResult,
}

/// What [`evaluate`] returns: the outcome and every policy's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// The outcome.
    pub outcome: Outcome,
    /// Each policy's result, in the order given.
    pub policies: Vec<Applied>,
}

impl Decision {
    /// Graph's `conditionalAccessStatus`: `success`, `failure` or `notApplied`.
    pub fn status(&self) -> &'static str {
        let enforced = self
            .policies
            .iter()
            .filter(|p| matches!(p.result, PolicyResult::Success | PolicyResult::Failure));
        let mut any = false;
        for applied in enforced {
            if applied.result == PolicyResult::Failure {
                return "failure";
            }
            any = true;
        }
        if any { "success" } else { "notApplied" }
    }
}

fn user_matches(policy: &Policy, subject: &Subject<'_>) -> bool {
    let users = &policy.conditions.users;
    let keyword = |value: &str| match value {
        crate::domain::policy::ALL => true,
        crate::domain::policy::GUESTS => subject.user_type == UserType::Guest,
        crate::domain::policy::MEMBERS => subject.user_type == UserType::Member,
        crate::domain::policy::NONE => false,
        id => id == subject.user_id,
    };
    let in_groups = |groups: &[String]| groups.iter().any(|g| subject.groups.contains(g));
    let included =
        users.include_users.iter().any(|u| keyword(u)) || in_groups(&users.include_groups);
    let excluded =
        users.exclude_users.iter().any(|u| keyword(u)) || in_groups(&users.exclude_groups);
    included && !excluded
}

fn app_matches(policy: &Policy, app: Option<&str>) -> bool {
    let apps = &policy.conditions.applications;
    let included = apps
        .include_applications
        .iter()
        .any(|a| a == crate::domain::policy::ALL || Some(a.as_str()) == app);
    let excluded = app.is_some_and(|app| apps.exclude_applications.iter().any(|a| a == app));
    included && !excluded
}

/// Evaluates `policies` for a sign-in: an enabled policy that applies and blocks → `Block`;
/// else an enabled one that applies and requires MFA the evidence lacks → `RequireMfa`;
/// else `Allow`. Report-only policies are evaluated and reported, never enforced. Pure: the
/// same inputs give the same decision.
pub fn evaluate(policies: &[Policy], subject: &Subject<'_>, context: &Context<'_>) -> Decision {
    let mut outcome = Outcome::Allow;
    let mut results = Vec::with_capacity(policies.len());
    for policy in policies {
        let controls: Vec<&'static str> = policy
            .grant
            .built_in_controls
            .iter()
            .map(|c| c.as_str())
            .collect();
        let blocks = policy.grant.built_in_controls.contains(&Control::Block);
        let applies = user_matches(policy, subject) && app_matches(policy, context.app);
        let satisfied = !blocks && context.mfa;
        let result = match (policy.state, applies) {
            (PolicyState::Disabled, _) => PolicyResult::NotEnabled,
            (PolicyState::Enabled, false) => PolicyResult::NotApplied,
            (PolicyState::Enabled, true) if satisfied => PolicyResult::Success,
            (PolicyState::Enabled, true) => {
                outcome = if blocks || outcome == Outcome::Block {
                    Outcome::Block
                } else {
                    Outcome::RequireMfa
                };
                PolicyResult::Failure
            }
            (PolicyState::EnabledForReportingButNotEnforced, false) => {
                PolicyResult::ReportOnlyNotApplied
            }
            (PolicyState::EnabledForReportingButNotEnforced, true) if blocks => {
                PolicyResult::ReportOnlyFailure
            }
            (PolicyState::EnabledForReportingButNotEnforced, true) if satisfied => {
                PolicyResult::ReportOnlySuccess
            }
            (PolicyState::EnabledForReportingButNotEnforced, true) => {
                PolicyResult::ReportOnlyInterrupted
            }
        };
        results.push(Applied {
            id: policy.id.clone(),
            display_name: policy.display_name.clone(),
            enforced_grant_controls: if applies { controls } else { Vec::new() },
            result,
        });
    }
    Decision {
        outcome,
        policies: results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::*;

    fn policy(
        id: &str,
        state: PolicyState,
        users: UserConditions,
        apps: &[&str],
        c: Control,
    ) -> Policy {
        Policy {
            id: id.into(),
            tenant_id: "t".into(),
            display_name: id.into(),
            state,
            conditions: Conditions {
                users,
                applications: ApplicationConditions {
                    include_applications: apps.iter().map(|a| (*a).to_owned()).collect(),
                    exclude_applications: vec![],
                },
            },
            grant: GrantControls {
                operator: "OR".into(),
                built_in_controls: vec![c],
            },
            created_at: 0,
            modified_at: 0,
        }
    }

    fn users(include: &[&str]) -> UserConditions {
        UserConditions {
            include_users: include.iter().map(|u| (*u).to_owned()).collect(),
            ..Default::default()
        }
    }

    const MEMBER: Subject<'static> = Subject {
        user_id: "alice",
        user_type: UserType::Member,
        groups: &[],
    };

    fn ctx(app: Option<&'static str>, mfa: bool) -> Context<'static> {
        Context { app, mfa }
    }

    #[test]
    fn no_policies_allow_and_report_not_applied() {
        let decision = evaluate(&[], &MEMBER, &ctx(Some("app"), false));
        assert_eq!(decision.outcome, Outcome::Allow);
        assert_eq!(decision.status(), "notApplied");
    }

    #[test]
    fn mfa_policy_requires_mfa_until_the_evidence_has_it() {
        let p = [policy(
            "p",
            PolicyState::Enabled,
            users(&["All"]),
            &["All"],
            Control::Mfa,
        )];
        let without = evaluate(&p, &MEMBER, &ctx(Some("app"), false));
        assert_eq!(without.outcome, Outcome::RequireMfa);
        assert_eq!(without.policies[0].result, PolicyResult::Failure);
        assert_eq!(without.status(), "failure");
        let with = evaluate(&p, &MEMBER, &ctx(Some("app"), true));
        assert_eq!(with.outcome, Outcome::Allow);
        assert_eq!(with.policies[0].result, PolicyResult::Success);
        assert_eq!(with.status(), "success");
    }

    #[test]
    fn block_wins_over_mfa_whatever_the_order_and_mfa_does_not_lift_it() {
        let p = [
            policy(
                "m",
                PolicyState::Enabled,
                users(&["All"]),
                &["All"],
                Control::Mfa,
            ),
            policy(
                "b",
                PolicyState::Enabled,
                users(&["alice"]),
                &["app"],
                Control::Block,
            ),
            policy(
                "m2",
                PolicyState::Enabled,
                users(&["All"]),
                &["All"],
                Control::Mfa,
            ),
        ];
        assert_eq!(
            evaluate(&p, &MEMBER, &ctx(Some("app"), false)).outcome,
            Outcome::Block
        );
        assert_eq!(
            evaluate(&p, &MEMBER, &ctx(Some("app"), true)).outcome,
            Outcome::Block
        );
        assert_eq!(
            evaluate(&p, &MEMBER, &ctx(Some("other"), true)).outcome,
            Outcome::Allow
        );
    }

    #[test]
    fn user_keywords_select_guests_or_members() {
        let guest = Subject {
            user_id: "gus",
            user_type: UserType::Guest,
            groups: &[],
        };
        let guests = [policy(
            "g",
            PolicyState::Enabled,
            users(&["GuestsOrExternalUsers"]),
            &["All"],
            Control::Mfa,
        )];
        assert_eq!(
            evaluate(&guests, &guest, &ctx(None, false)).outcome,
            Outcome::RequireMfa
        );
        assert_eq!(
            evaluate(&guests, &MEMBER, &ctx(None, false)).outcome,
            Outcome::Allow
        );
        let members = [policy(
            "m",
            PolicyState::Enabled,
            users(&["Members"]),
            &["All"],
            Control::Mfa,
        )];
        assert_eq!(
            evaluate(&members, &guest, &ctx(None, false)).outcome,
            Outcome::Allow
        );
        assert_eq!(
            evaluate(&members, &MEMBER, &ctx(None, false)).outcome,
            Outcome::RequireMfa
        );
    }

    #[test]
    fn groups_and_exclusions_select_users() {
        let guest = Subject {
            user_id: "gus",
            user_type: UserType::Guest,
            groups: &[],
        };
        let grouped_groups = ["g1".to_owned()];
        let grouped = Subject {
            user_id: "bob",
            user_type: UserType::Member,
            groups: &grouped_groups,
        };
        let by_group = [policy(
            "grp",
            PolicyState::Enabled,
            UserConditions {
                include_groups: vec!["g1".into()],
                ..Default::default()
            },
            &["All"],
            Control::Mfa,
        )];
        assert_eq!(
            evaluate(&by_group, &grouped, &ctx(None, false)).outcome,
            Outcome::RequireMfa
        );
        assert_eq!(
            evaluate(&by_group, &MEMBER, &ctx(None, false)).outcome,
            Outcome::Allow
        );
        let all_but = [policy(
            "x",
            PolicyState::Enabled,
            UserConditions {
                include_users: vec!["All".into()],
                exclude_users: vec!["GuestsOrExternalUsers".into()],
                exclude_groups: vec!["g1".into()],
                ..Default::default()
            },
            &["All"],
            Control::Mfa,
        )];
        assert_eq!(
            evaluate(&all_but, &MEMBER, &ctx(None, false)).outcome,
            Outcome::RequireMfa
        );
        assert_eq!(
            evaluate(&all_but, &guest, &ctx(None, false)).outcome,
            Outcome::Allow
        );
        assert_eq!(
            evaluate(&all_but, &grouped, &ctx(None, false)).outcome,
            Outcome::Allow
        );
    }

    #[test]
    fn applications_listed_excluded_and_own_pages() {
        let mut p = policy(
            "a",
            PolicyState::Enabled,
            users(&["All"]),
            &["All"],
            Control::Mfa,
        );
        p.conditions.applications.exclude_applications = vec!["free".into()];
        let p = [p];
        assert_eq!(
            evaluate(&p, &MEMBER, &ctx(Some("free"), false)).outcome,
            Outcome::Allow
        );
        assert_eq!(
            evaluate(&p, &MEMBER, &ctx(Some("app"), false)).outcome,
            Outcome::RequireMfa
        );
        assert_eq!(
            evaluate(&p, &MEMBER, &ctx(None, false)).outcome,
            Outcome::RequireMfa
        );
        let listed = [policy(
            "l",
            PolicyState::Enabled,
            users(&["All"]),
            &["app"],
            Control::Mfa,
        )];
        assert_eq!(
            evaluate(&listed, &MEMBER, &ctx(None, false)).outcome,
            Outcome::Allow
        );
        assert_eq!(
            evaluate(&listed, &MEMBER, &ctx(Some("app"), false)).outcome,
            Outcome::RequireMfa
        );
    }

    #[test]
    fn report_only_and_disabled_never_enforce() {
        let p = [
            policy(
                "r",
                PolicyState::EnabledForReportingButNotEnforced,
                users(&["All"]),
                &["All"],
                Control::Mfa,
            ),
            policy(
                "rb",
                PolicyState::EnabledForReportingButNotEnforced,
                users(&["All"]),
                &["All"],
                Control::Block,
            ),
            policy(
                "rn",
                PolicyState::EnabledForReportingButNotEnforced,
                users(&["nobody"]),
                &["All"],
                Control::Mfa,
            ),
            policy(
                "d",
                PolicyState::Disabled,
                users(&["All"]),
                &["All"],
                Control::Block,
            ),
        ];
        let decision = evaluate(&p, &MEMBER, &ctx(Some("app"), false));
        assert_eq!(decision.outcome, Outcome::Allow);
        let results: Vec<_> = decision.policies.iter().map(|a| a.result).collect();
        assert_eq!(
            results,
            [
                PolicyResult::ReportOnlyInterrupted,
                PolicyResult::ReportOnlyFailure,
                PolicyResult::ReportOnlyNotApplied,
                PolicyResult::NotEnabled
            ]
        );
        assert_eq!(decision.status(), "notApplied");
        let with_mfa = evaluate(&p, &MEMBER, &ctx(Some("app"), true));
        assert_eq!(with_mfa.policies[0].result, PolicyResult::ReportOnlySuccess);
    }
}
