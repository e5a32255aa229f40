//! The write paths: create, update (main and status), delete. Handlers and
//! the garbage collector both go through here, with the state locked.

use crate::error::{ApiError, Cause};
use crate::meta;
use crate::patch::apply::track_update;
use crate::patch::shape::Shape;
use crate::resources::ResourceInfo;
use crate::state::State;
use crate::store::Key;
use serde_json::{Value, json};

#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    pub manager: String,
    pub dry_run: bool,
    /// managedFields were already computed by server-side apply.
    pub from_apply: bool,
    /// fieldValidation=Strict: unknown fields are refused, not dropped.
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    Main,
    Status,
}

pub fn shape_of<'a>(info: &'a ResourceInfo, version: &str) -> Shape<'a> {
    match &info.crd {
        Some(c) => Shape::Custom(c.schema(version)),
        None => Shape::Builtin,
    }
}

pub fn key_for(info: &ResourceInfo, ns: &str, name: &str) -> Key {
    Key::new(&info.storage_group, &info.plural, if info.namespaced { ns } else { "" }, name)
}

/// Present an object in the version the client asked for (all versions share
/// one stored shape: no conversion webhooks here).
pub fn present(info: &ResourceInfo, version: &str, mut obj: Value) -> Value {
    crate::kinds::to_api_shape(info, &mut obj);
    stamp(info, version, obj)
}

/// Set apiVersion and kind (objects are stored with them).
fn stamp(info: &ResourceInfo, version: &str, mut obj: Value) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(info.api_version(version)));
        m.insert("kind".into(), json!(info.kind));
    }
    obj
}

fn check_kind(info: &ResourceInfo, version: &str, obj: &Value) -> Result<(), ApiError> {
    if let Some(k) = obj.get("kind").and_then(Value::as_str)
        && !k.is_empty()
        && k != info.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({}) of {}",
            info.kind,
            info.api_version(version)
        )));
    }
    Ok(())
}

fn check_namespace(st: &State, info: &ResourceInfo, ns: &str, creating: bool) -> Result<(), ApiError> {
    if !info.namespaced {
        return Ok(());
    }
    let Some(nso) = st.store.get(&Key::new("", "namespaces", "", ns)) else {
        return Err(ApiError::not_found("namespaces", "", ns));
    };
    if creating && meta::is_deleting(nso) {
        return Err(ApiError::forbidden(format!(
            "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            crate::error::qualified(&info.plural, &info.group),
            ""
        )));
    }
    Ok(())
}

pub fn create(
    st: &mut State,
    info: &ResourceInfo,
    version: &str,
    ns: &str,
    mut obj: Value,
    opts: &WriteOpts,
) -> Result<Value, ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request("the body of the request was not a JSON object"));
    }
    check_kind(info, version, &obj)?;
    crate::kinds::to_storage_shape(info, &mut obj);
    let body_ns = meta::namespace(&obj);
    if info.namespaced && !body_ns.is_empty() && body_ns != ns {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let mut name = meta::name(&obj);
    if name.is_empty() {
        let gen_name = meta::str_field(&obj, "generateName");
        if gen_name.is_empty() {
            return Err(ApiError::invalid(
                &info.kind_group(),
                "",
                vec![Cause {
                    reason: "FieldValueRequired",
                    message: "Required value: name or generateName is required".into(),
                    field: "metadata.name".into(),
                }],
            ));
        }
        loop {
            name = format!("{gen_name}{}", meta::random_suffix());
            if st.store.get(&key_for(info, ns, &name)).is_none() {
                break;
            }
        }
    }
    if !meta::valid_name(&name) && info.plural != "customresourcedefinitions" {
        return Err(ApiError::invalid(
            &info.kind_group(),
            &name,
            vec![Cause {
                reason: "FieldValueInvalid",
                message: format!(
                    "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
                ),
                field: "metadata.name".into(),
            }],
        ));
    }
    check_namespace(st, info, ns, true)?;
    let key = key_for(info, ns, &name);
    if st.store.get(&key).is_some() {
        return Err(ApiError::already_exists(&info.plural, &info.group, &name));
    }
    {
        let m = meta::meta_mut(&mut obj);
        m.insert("name".into(), json!(name));
        if info.namespaced {
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
        m.insert("uid".into(), json!(meta::new_uid()));
        m.insert("creationTimestamp".into(), json!(meta::now()));
        if crate::kinds::tracks_generation(info) {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
        m.remove("deletionTimestamp");
        m.remove("deletionGracePeriodSeconds");
        m.remove("resourceVersion");
        m.remove("selfLink");
    }
    obj = stamp(info, version, obj);
    crate::kinds::drop_empty_maps(info, &mut obj);
    crate::kinds::on_create(st, info, &mut obj)?;
    obj = crate::crd::admit(info, version, obj, opts.strict)?;
    if !opts.from_apply {
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
        track_update(
            None,
            &mut obj,
            &opts.manager,
            None,
            info.status,
            shape_of(info, version),
            &info.api_version(version),
        );
    }
    if opts.dry_run {
        return Ok(obj);
    }
    let stored = st.store.put(key, obj);
    if info.plural == "customresourcedefinitions" {
        st.refresh_crds();
    }
    Ok(stored)
}

/// Replace an object (PUT, or the result of a patch).
#[allow(clippy::too_many_arguments)]
pub fn update(
    st: &mut State,
    info: &ResourceInfo,
    version: &str,
    ns: &str,
    name: &str,
    body: Value,
    sub: Sub,
    opts: &WriteOpts,
) -> Result<Value, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the body of the request was not a JSON object"));
    }
    check_kind(info, version, &body)?;
    let mut body = body;
    crate::kinds::to_storage_shape(info, &mut body);
    let body_name = meta::name(&body);
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let key = key_for(info, ns, name);
    let Some(old) = st.store.get(&key).cloned() else {
        return Err(ApiError::not_found(&info.plural, &info.group, name));
    };
    let want_rv = meta::rv(&body);
    if !want_rv.is_empty() && want_rv != meta::rv(&old) {
        return Err(ApiError::stale(&info.plural, &info.group, name));
    }
    let mut new = match sub {
        Sub::Main => {
            let mut n = body.clone();
            if info.status {
                // The main resource ignores status changes.
                match old.get("status") {
                    Some(s) => n["status"] = s.clone(),
                    None => {
                        if let Some(m) = n.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            n
        }
        Sub::Status => {
            // The status subresource changes status only.
            let mut n = old.clone();
            match body.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    if let Some(m) = n.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            if let Some(mf) = body.pointer("/metadata/managedFields") {
                meta::meta_mut(&mut n).insert("managedFields".into(), mf.clone());
            }
            n
        }
    };
    // Fields clients cannot change.
    {
        let old_meta = meta::meta(&old).cloned().unwrap_or_default();
        let m = meta::meta_mut(&mut new);
        for f in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_meta.get(f) {
                Some(v) => {
                    m.insert(f.into(), v.clone());
                }
                None => {
                    m.remove(f);
                }
            }
        }
        if !m.contains_key("managedFields")
            && let Some(mf) = old_meta.get("managedFields")
        {
            m.insert("managedFields".into(), mf.clone());
        }
        m.insert("resourceVersion".into(), json!(meta::rv(&old)));
    }
    if meta::is_deleting(&old) {
        let old_f = meta::finalizers(&old);
        if meta::finalizers(&new).iter().any(|f| !old_f.contains(f)) {
            return Err(ApiError::forbidden(format!(
                "{} \"{name}\" is forbidden: no new finalizers can be added if the object is being deleted",
                crate::error::qualified(&info.plural, &info.group)
            )));
        }
    }
    new = stamp(info, version, new);
    crate::kinds::drop_empty_maps(info, &mut new);
    if sub == Sub::Main {
        crate::kinds::on_update(st, info, &old, &mut new)?;
    }
    new = crate::crd::admit(info, version, new, opts.strict)?;
    if crate::kinds::tracks_generation(info) && meta::spec_part(&new) != meta::spec_part(&old) {
        let g = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
        meta::meta_mut(&mut new).insert("generation".into(), json!(g + 1));
    }
    let subres = (sub == Sub::Status).then_some("status");
    if !opts.from_apply {
        track_update(
            Some(&old),
            &mut new,
            &opts.manager,
            subres,
            info.status,
            shape_of(info, version),
            &info.api_version(version),
        );
    }
    if same_ignoring_times(&old, &new) {
        // A no-op write changes nothing and emits no event, as in Kubernetes.
        return Ok(stamp(info, version, old));
    }
    if opts.dry_run {
        return Ok(new);
    }
    if meta::is_deleting(&new) && meta::finalizers(&new).is_empty() {
        // The answer is what was written (finalizers gone), at the removal's version.
        let gone = st.store.remove(&key).unwrap_or_else(|| new.clone());
        after_remove(st, info, &gone);
        crate::store::set_rv(&mut new, meta::rv(&gone).parse().unwrap_or_default());
        return Ok(new);
    }
    let stored = st.store.put(key, new);
    if info.plural == "customresourcedefinitions" {
        st.refresh_crds();
    }
    Ok(stored)
}

fn same_ignoring_times(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(list) = v.pointer_mut("/metadata/managedFields").and_then(Value::as_array_mut) {
            for e in list.iter_mut() {
                if let Some(m) = e.as_object_mut() {
                    m.remove("time");
                }
            }
            // Entries are ordered by time, so a rewrite may reorder them.
            list.sort_by_key(|e| e.to_string());
        }
        if let Some(m) = v.as_object_mut() {
            m.remove("apiVersion");
        }
        v
    };
    strip(a) == strip(b)
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub propagation: Option<String>,
    pub grace: Option<i64>,
    pub uid: Option<String>,
    pub rv: Option<String>,
    pub dry_run: bool,
}

/// Delete an object: immediately, or by setting deletionTimestamp while
/// finalizers (or a pod's grace period) hold it.
pub fn delete(st: &mut State, info: &ResourceInfo, ns: &str, name: &str, opts: &DeleteOpts) -> Result<Value, ApiError> {
    let key = key_for(info, ns, name);
    let Some(old) = st.store.get(&key).cloned() else {
        return Err(ApiError::not_found(&info.plural, &info.group, name));
    };
    if let Some(uid) = &opts.uid
        && *uid != meta::uid(&old)
    {
        return Err(ApiError::conflict(
            &info.kind,
            &info.group,
            name,
            &format!(
                "the UID in the precondition ({uid}) does not match the UID in record ({}). The object might have been deleted and then recreated",
                meta::uid(&old)
            ),
        ));
    }
    if let Some(rv) = &opts.rv
        && *rv != meta::rv(&old)
    {
        return Err(ApiError::conflict(
            &info.kind,
            &info.group,
            name,
            &format!(
                "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({}). The object might have been modified",
                meta::rv(&old)
            ),
        ));
    }
    let mut obj = old.clone();
    let mut fins = meta::finalizers(&obj);
    match opts.propagation.as_deref() {
        Some("Foreground") if !fins.iter().any(|f| f == "foregroundDeletion") => fins.push("foregroundDeletion".into()),
        Some("Orphan") if !fins.iter().any(|f| f == "orphan") => fins.push("orphan".into()),
        Some("Foreground") | Some("Orphan") | Some("Background") | None => {}
        Some(other) => {
            return Err(ApiError::invalid(
                "DeleteOptions",
                "",
                vec![Cause {
                    reason: "FieldValueNotSupported",
                    message: format!(
                        "Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
                    ),
                    field: "propagationPolicy".into(),
                }],
            ));
        }
    }
    // Pods on a node terminate gracefully: the kubelet finishes the delete.
    let pod_grace = if info.group.is_empty() && info.plural == "pods" {
        let scheduled = obj.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        let phase = obj.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default();
        let terminal = phase == "Succeeded" || phase == "Failed";
        let grace = opts.grace.unwrap_or_else(|| {
            obj.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30)
        });
        (scheduled && !terminal && grace > 0).then_some(grace)
    } else {
        None
    };
    let is_namespace = info.group.is_empty() && info.plural == "namespaces";
    if !fins.is_empty() || pod_grace.is_some() || is_namespace {
        if meta::is_deleting(&obj) && pod_grace.is_none() && fins == meta::finalizers(&old) && !is_namespace {
            return Ok(old);
        }
        meta::set_finalizers(&mut obj, fins);
        let m = meta::meta_mut(&mut obj);
        let grace = pod_grace.unwrap_or(0);
        if !m.contains_key("deletionTimestamp") || pod_grace.is_some() {
            let at = jiff::Timestamp::now()
                .checked_add(jiff::SignedDuration::from_secs(grace))
                .unwrap_or_else(|_| jiff::Timestamp::now());
            let at = at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
            // A shorter grace period may shorten a pending one, never lengthen it.
            let keep = m.get("deletionGracePeriodSeconds").and_then(Value::as_i64).is_some_and(|g| g <= grace)
                && m.contains_key("deletionTimestamp");
            if !keep {
                m.insert("deletionTimestamp".into(), json!(at));
                m.insert("deletionGracePeriodSeconds".into(), json!(grace));
            }
        }
        if is_namespace {
            obj["status"] = json!({"phase": "Terminating"});
        }
        if opts.dry_run || obj == old {
            return Ok(obj);
        }
        let stored = st.store.put(key, obj);
        return Ok(stored);
    }
    if opts.dry_run {
        return Ok(obj);
    }
    let gone = st.store.remove(&key).unwrap_or(obj);
    after_remove(st, info, &gone);
    Ok(gone)
}

/// The `Status` a DELETE answers with once the object is gone.
pub fn deleted_status(info: &ResourceInfo, gone: &Value) -> Value {
    let mut details = json!({"name": meta::name(gone), "kind": info.plural, "uid": meta::uid(gone)});
    if !info.group.is_empty() {
        details["group"] = json!(info.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

/// Side effects of an object leaving the store.
fn after_remove(st: &mut State, info: &ResourceInfo, gone: &Value) {
    if info.plural == "customresourcedefinitions" {
        // Custom resources go with their definition.
        if let Some(ri) = crate::resources::from_crd(gone) {
            let keys: Vec<Key> = st.store.list(&ri.group, &ri.plural, None).map(|(k, _)| k.clone()).collect();
            for k in keys {
                st.store.remove(&k);
            }
        }
        st.refresh_crds();
    }
}
