//! Conditional-access policies in the shape of Microsoft Graph's `conditionalAccessPolicy`
//! (B2B-REFERENCE.md B.7): a state, conditions on users and applications, and a grant
//! (block, or require multi-factor authentication). Tenant-, app-, user- and group-level MFA
//! are all policies of this one shape.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::Invalid;

/// `includeUsers` / `excludeUsers` keyword: every user of the tenant.
pub const ALL: &str = "All";
/// `includeUsers` / `includeApplications` keyword: nobody / nothing.
pub const NONE: &str = "None";
/// `includeUsers` / `excludeUsers` keyword: every guest (Graph's name).
pub const GUESTS: &str = "GuestsOrExternalUsers";
/// `includeUsers` / `excludeUsers` keyword: every member (a Gatehouse extension; in Entra
/// one writes `All` minus `GuestsOrExternalUsers`, which works here too).
pub const MEMBERS: &str = "Members";

/// Most entries in one list of a policy.
const MAX_LIST: usize = 500;

/// Whether a policy is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicyState {
    /// Enforced.
    Enabled,
    /// Ignored.
    Disabled,
    /// Evaluated and logged, never enforced ("report-only").
    EnabledForReportingButNotEnforced,
}

impl PolicyState {
    /// The Graph name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::EnabledForReportingButNotEnforced => "enabledForReportingButNotEnforced",
        }
    }

    /// Parses the Graph name or the CLI's short forms (`on`, `off`, `report-only`).
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        match text {
            "enabled" | "on" => Ok(Self::Enabled),
            "disabled" | "off" => Ok(Self::Disabled),
            "enabledForReportingButNotEnforced" | "report-only" | "reportOnly" => {
                Ok(Self::EnabledForReportingButNotEnforced)
            }
            other => Err(Invalid::new(format!(
                "unknown state {other:?}; expected enabled, disabled or enabledForReportingButNotEnforced"
            ))),
        }
    }
}

/// Which users a policy targets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserConditions {
    /// Object ids or `All`, `None`, `GuestsOrExternalUsers`, `Members`.
    #[serde(default)]
    pub include_users: Vec<String>,
    /// Object ids or `GuestsOrExternalUsers`, `Members`.
    #[serde(default)]
    pub exclude_users: Vec<String>,
    /// Group ids whose members are targeted.
    #[serde(default)]
    pub include_groups: Vec<String>,
    /// Group ids whose members are left out.
    #[serde(default)]
    pub exclude_groups: Vec<String>,
}

/// Which applications a policy targets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplicationConditions {
    /// Application ids (`client_id`) or `All`, `None`.
    #[serde(default)]
    pub include_applications: Vec<String>,
    /// Application ids left out.
    #[serde(default)]
    pub exclude_applications: Vec<String>,
}

/// The conditions of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Conditions {
    /// Users.
    pub users: UserConditions,
    /// Applications.
    pub applications: ApplicationConditions,
}

/// A built-in grant control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Control {
    /// Refuse the sign-in.
    Block,
    /// Require multi-factor authentication.
    Mfa,
}

impl Control {
    /// The Graph name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Mfa => "mfa",
        }
    }
}

/// What a policy demands when it applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantControls {
    /// `OR` or `AND` (with one control they mean the same).
    #[serde(default = "default_operator")]
    pub operator: String,
    /// `block`, or `mfa`.
    pub built_in_controls: Vec<Control>,
}

fn default_operator() -> String {
    "OR".to_owned()
}

/// A conditional-access policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Name shown in logs.
    pub display_name: String,
    /// State.
    pub state: PolicyState,
    /// Conditions.
    pub conditions: Conditions,
    /// Grant.
    pub grant: GrantControls,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub modified_at: i64,
}

fn check_list(name: &str, list: &[String]) -> Result<(), Invalid> {
    if list.len() > MAX_LIST {
        return Err(Invalid::new(format!(
            "{name} has more than {MAX_LIST} entries"
        )));
    }
    if let Some(bad) = list.iter().find(|v| v.is_empty() || v.len() > 128) {
        return Err(Invalid::new(format!("{name} has an invalid entry {bad:?}")));
    }
    Ok(())
}

fn is_keyword(value: &str) -> bool {
    [ALL, NONE, GUESTS, MEMBERS].contains(&value)
}

impl Policy {
    /// Checks the rules a policy must follow; the ids it names are checked against the
    /// directory by the caller ([`Policy::named_ids`]).
    pub fn validate(&self) -> Result<(), Invalid> {
        let name = self.display_name.trim();
        if name.is_empty() || name.chars().count() > 256 {
            return Err(Invalid::new("displayName must have 1 to 256 characters"));
        }
        let users = &self.conditions.users;
        let apps = &self.conditions.applications;
        check_list("includeUsers", &users.include_users)?;
        check_list("excludeUsers", &users.exclude_users)?;
        check_list("includeGroups", &users.include_groups)?;
        check_list("excludeGroups", &users.exclude_groups)?;
        check_list("includeApplications", &apps.include_applications)?;
        check_list("excludeApplications", &apps.exclude_applications)?;
        if users.include_users.is_empty() && users.include_groups.is_empty() {
            return Err(Invalid::new(
                "conditions.users needs includeUsers or includeGroups (use [\"All\"] for everyone)",
            ));
        }
        if users.include_users.len() > 1
            && users.include_users.iter().any(|u| u == ALL || u == NONE)
        {
            return Err(Invalid::new(
                "includeUsers: All and None cannot be combined with other entries",
            ));
        }
        if users.exclude_users.iter().any(|u| u == ALL || u == NONE) {
            return Err(Invalid::new("excludeUsers cannot hold All or None"));
        }
        if apps.include_applications.is_empty() {
            return Err(Invalid::new(
                "conditions.applications.includeApplications is required (use [\"All\"] for every app)",
            ));
        }
        if apps.include_applications.len() > 1
            && apps
                .include_applications
                .iter()
                .any(|a| a == ALL || a == NONE)
        {
            return Err(Invalid::new(
                "includeApplications: All and None cannot be combined with other entries",
            ));
        }
        if apps
            .exclude_applications
            .iter()
            .any(|a| a == ALL || a == NONE)
        {
            return Err(Invalid::new("excludeApplications cannot hold All or None"));
        }
        let controls = &self.grant.built_in_controls;
        if controls.is_empty() {
            return Err(Invalid::new(
                "grantControls.builtInControls needs block or mfa",
            ));
        }
        if controls.contains(&Control::Block) && controls.len() > 1 {
            return Err(Invalid::new(
                "grantControls: block cannot be combined with other controls",
            ));
        }
        if self.grant.operator != "OR" && self.grant.operator != "AND" {
            return Err(Invalid::new("grantControls.operator must be OR or AND"));
        }
        Ok(())
    }

    /// The user, group and application ids the policy names (not keywords), to check that
    /// they exist in the tenant.
    pub fn named_ids(&self) -> (Vec<&str>, Vec<&str>, Vec<&str>) {
        let users = &self.conditions.users;
        let apps = &self.conditions.applications;
        let user_ids = users
            .include_users
            .iter()
            .chain(&users.exclude_users)
            .map(String::as_str)
            .filter(|u| !is_keyword(u))
            .collect();
        let group_ids = users
            .include_groups
            .iter()
            .chain(&users.exclude_groups)
            .map(String::as_str)
            .collect();
        let app_ids = apps
            .include_applications
            .iter()
            .chain(&apps.exclude_applications)
            .map(String::as_str)
            .filter(|a| *a != ALL && *a != NONE)
            .collect();
        (user_ids, group_ids, app_ids)
    }

    /// The policy as Graph JSON.
    pub fn to_graph(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "displayName": self.display_name,
            "state": self.state.as_str(),
            "createdDateTime": crate::domain::date_time(self.created_at),
            "modifiedDateTime": crate::domain::date_time(self.modified_at),
            "conditions": self.conditions,
            "grantControls": self.grant,
        })
    }
}

/// What a Graph client may send besides what Gatehouse enforces: properties that restrict
/// nothing (Graph's docs mark `conditions.clientAppTypes` required and every example sends
/// `["all"]`; a policy read back from Graph carries `locations: null`, empty role lists,
/// `@odata.type` annotations …). Each is accepted only in a form that restricts nothing and
/// then dropped; any other value would be stored but not enforced, so it is refused with the
/// property's name. What is left is parsed strictly (unknown fields are refused).
pub fn strip_unenforced(body: &mut serde_json::Value) -> Result<(), Invalid> {
    strip_annotations(body);
    let Some(policy) = body.as_object_mut() else {
        return Ok(());
    };
    drop_if(policy, "", "templateId", is_null)?;
    drop_if(policy, "", "sessionControls", is_null)?;
    if let Some(Value::Object(conditions)) = policy.get_mut("conditions") {
        strip_unenforced_conditions(conditions)?;
    }
    if let Some(Value::Object(grant)) = policy.get_mut("grantControls") {
        let path = "grantControls.";
        for name in ["customAuthenticationFactors", "termsOfUse"] {
            drop_if(grant, path, name, empty)?;
        }
        drop_if(grant, path, "authenticationStrength", is_null)?;
    }
    Ok(())
}

/// The unenforced properties of `conditions` (and of its `users` and `applications`).
fn strip_unenforced_conditions(conditions: &mut JsonMap) -> Result<(), Invalid> {
    let path = "conditions.";
    drop_if(conditions, path, "clientAppTypes", |v| {
        v.as_array().is_some_and(|a| a.len() == 1 && a[0] == "all")
    })?;
    drop_if(conditions, path, "locations", |v| {
        v.is_null()
            || v.as_object().is_some_and(|l| {
                l.iter().all(|(key, value)| match key.as_str() {
                    "includeLocations" => value
                        .as_array()
                        .is_some_and(|a| a.len() == 1 && a[0] == "All"),
                    "excludeLocations" => empty(value),
                    _ => false,
                })
            })
    })?;
    for name in [
        "platforms",
        "devices",
        "deviceStates",
        "clientApplications",
        "times",
        "authenticationFlows",
        "insiderRiskLevels",
    ] {
        drop_if(conditions, path, name, is_null)?;
    }
    for name in [
        "signInRiskLevels",
        "userRiskLevels",
        "servicePrincipalRiskLevels",
    ] {
        drop_if(conditions, path, name, empty)?;
    }
    if let Some(Value::Object(users)) = conditions.get_mut("users") {
        let path = "conditions.users.";
        for name in ["includeRoles", "excludeRoles"] {
            drop_if(users, path, name, empty)?;
        }
        for name in [
            "includeGuestsOrExternalUsers",
            "excludeGuestsOrExternalUsers",
        ] {
            drop_if(users, path, name, is_null)?;
        }
    }
    if let Some(Value::Object(apps)) = conditions.get_mut("applications") {
        let path = "conditions.applications.";
        for name in [
            "includeUserActions",
            "includeAuthenticationContextClassReferences",
        ] {
            drop_if(apps, path, name, empty)?;
        }
        for name in ["applicationFilter", "globalSecureAccess"] {
            drop_if(apps, path, name, is_null)?;
        }
    }
    Ok(())
}

/// A JSON object's members.
type JsonMap = serde_json::Map<String, Value>;

/// Removes every `@odata.` annotation, at any depth.
fn strip_annotations(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !key.starts_with("@odata."));
            map.values_mut().for_each(strip_annotations);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_annotations),
        _ => {}
    }
}

/// Removes `name` from `map` when its value restricts nothing.
fn drop_if(
    map: &mut JsonMap,
    path: &str,
    name: &str,
    restricts_nothing: impl Fn(&Value) -> bool,
) -> Result<(), Invalid> {
    match map.get(name) {
        None => Ok(()),
        Some(value) if restricts_nothing(value) => {
            map.remove(name);
            Ok(())
        }
        Some(value) => Err(Invalid::new(format!(
            "{path}{name} {value} is not supported: Gatehouse would store it without enforcing it"
        ))),
    }
}

/// `null` or an empty list.
fn empty(v: &Value) -> bool {
    v.is_null() || v.as_array().is_some_and(Vec::is_empty)
}

/// `null`.
fn is_null(v: &Value) -> bool {
    v.is_null()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphs_own_shapes_are_accepted_when_they_restrict_nothing() {
        // Graph's documented example, and what a GET from Graph returns.
        let mut graph = serde_json::json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#policies",
            "displayName": "MFA for guests",
            "state": "enabled",
            "templateId": null,
            "sessionControls": null,
            "conditions": {
                "@odata.type": "#microsoft.graph.conditionalAccessConditionSet",
                "clientAppTypes": ["all"],
                "locations": null,
                "platforms": null,
                "signInRiskLevels": [],
                "userRiskLevels": [],
                "users": {"includeUsers": ["GuestsOrExternalUsers"], "includeRoles": [],
                          "excludeRoles": [], "includeGuestsOrExternalUsers": null},
                "applications": {"includeApplications": ["All"], "includeUserActions": [],
                                 "applicationFilter": null},
            },
            "grantControls": {"@odata.type": "#microsoft.graph.conditionalAccessGrantControls",
                              "operator": "OR", "builtInControls": ["mfa"],
                              "customAuthenticationFactors": [], "termsOfUse": [],
                              "authenticationStrength": null},
        });
        strip_unenforced(&mut graph).unwrap();
        let conditions: Conditions = serde_json::from_value(graph["conditions"].clone()).unwrap();
        assert_eq!(conditions.users.include_users, vec![GUESTS]);
        let grant: GrantControls = serde_json::from_value(graph["grantControls"].clone()).unwrap();
        assert_eq!(grant.built_in_controls, vec![Control::Mfa]);
        let mut all_locations = serde_json::json!({"conditions": {
            "locations": {"includeLocations": ["All"], "excludeLocations": []}}});
        strip_unenforced(&mut all_locations).unwrap();
    }

    #[test]
    fn conditions_that_would_go_unenforced_are_refused_by_name() {
        for (body, name) in [
            (
                serde_json::json!({"conditions": {"clientAppTypes": ["browser"]}}),
                "clientAppTypes",
            ),
            (
                serde_json::json!({"conditions": {"locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}}}),
                "locations",
            ),
            (
                serde_json::json!({"conditions": {"signInRiskLevels": ["high"]}}),
                "signInRiskLevels",
            ),
            (
                serde_json::json!({"conditions": {"platforms": {"includePlatforms": ["all"]}}}),
                "platforms",
            ),
            (
                serde_json::json!({"conditions": {"users": {"includeRoles": ["62e90394-69f5-4237-9190-012177145e10"]}}}),
                "includeRoles",
            ),
            (
                serde_json::json!({"grantControls": {"termsOfUse": ["t1"]}}),
                "termsOfUse",
            ),
            (
                serde_json::json!({"sessionControls": {"signInFrequency": {}}}),
                "sessionControls",
            ),
        ] {
            let mut body = body;
            let error = strip_unenforced(&mut body).unwrap_err().to_string();
            assert!(
                error.contains(name) && error.contains("without enforcing"),
                "{error}"
            );
        }
    }

    fn policy(users: &[&str], apps: &[&str], controls: Vec<Control>) -> Policy {
        Policy {
            id: "p".into(),
            tenant_id: "t".into(),
            display_name: "Require MFA".into(),
            state: PolicyState::Enabled,
            conditions: Conditions {
                users: UserConditions {
                    include_users: users.iter().map(|u| (*u).to_owned()).collect(),
                    ..Default::default()
                },
                applications: ApplicationConditions {
                    include_applications: apps.iter().map(|a| (*a).to_owned()).collect(),
                    ..Default::default()
                },
            },
            grant: GrantControls {
                operator: "OR".into(),
                built_in_controls: controls,
            },
            created_at: 0,
            modified_at: 0,
        }
    }

    #[test]
    fn validation_names_the_broken_rule() {
        assert!(
            policy(&["All"], &["All"], vec![Control::Mfa])
                .validate()
                .is_ok()
        );
        let err = |p: Policy| p.validate().unwrap_err().to_string();
        assert!(err(policy(&[], &["All"], vec![Control::Mfa])).contains("includeUsers"));
        assert!(err(policy(&["All"], &[], vec![Control::Mfa])).contains("includeApplications"));
        assert!(err(policy(&["All"], &["All"], vec![])).contains("builtInControls"));
        assert!(
            err(policy(
                &["All"],
                &["All"],
                vec![Control::Block, Control::Mfa]
            ))
            .contains("block cannot be combined")
        );
        assert!(err(policy(&["All", "u1"], &["All"], vec![Control::Mfa])).contains("combined"));
        let mut unnamed = policy(&["All"], &["All"], vec![Control::Mfa]);
        unnamed.display_name = "  ".into();
        assert!(err(unnamed).contains("displayName"));
    }

    #[test]
    fn graph_json_round_trips_and_rejects_unknown_fields() {
        let conditions: Conditions = serde_json::from_value(serde_json::json!({
            "users": {"includeUsers": ["GuestsOrExternalUsers"], "excludeGroups": ["g1"]},
            "applications": {"includeApplications": ["app1"]}
        }))
        .unwrap();
        assert_eq!(conditions.users.include_users, vec![GUESTS]);
        assert_eq!(conditions.users.exclude_groups, vec!["g1"]);
        let bad = serde_json::from_value::<Conditions>(serde_json::json!({
            "users": {"includeUsers": ["All"], "includeRoles": ["x"]},
            "applications": {"includeApplications": ["All"]}
        }));
        assert!(bad.is_err());
        let grant: GrantControls =
            serde_json::from_value(serde_json::json!({"builtInControls": ["mfa"]})).unwrap();
        assert_eq!(grant.operator, "OR");
        assert!(
            serde_json::from_value::<GrantControls>(
                serde_json::json!({"builtInControls": ["compliantDevice"]})
            )
            .is_err()
        );
    }
}
