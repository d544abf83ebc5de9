// Kept by hand so that it matches both migration trees (see diesel.toml).

diesel::table! {
    teams (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        email -> Text,
        webhook_url -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        webhook_kind -> Text,
        webhook_secret -> Nullable<Text>,
        digest_hour -> Nullable<Integer>,
        digest_timezone -> Nullable<Text>,
        digest_sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        team_id -> Nullable<Text>,
        role -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deactivated_at -> Nullable<Timestamp>,
        token_generation -> Integer,
    }
}

diesel::table! {
    service_tokens (id) {
        id -> Text,
        name -> Text,
        team_id -> Nullable<Text>,
        scopes -> Text,
        token_hash -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        entity_type -> Text,
        entity_id -> Text,
        before -> Nullable<Text>,
        after -> Nullable<Text>,
    }
}

diesel::joinable!(users -> teams (team_id));
diesel::joinable!(service_tokens -> teams (team_id));

diesel::allow_tables_to_appear_in_same_query!(
    teams,
    users,
    service_tokens,
    settings,
    audit_log,
    calendars,
    slas,
    sla_versions,
    sla_approvals,
    events,
    evaluations,
    breaches,
    outbox,
);

diesel::table! {
    calendars (id) {
        id -> Text,
        key -> Text,
        name -> Text,
        timezone -> Text,
        hours -> Text,
        holidays -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    slas (id) {
        id -> Text,
        key -> Text,
        provider_team_id -> Text,
        consumer_team_id -> Text,
        status -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        eval_due_at -> Nullable<Timestamp>,
        eval_claimed_by -> Nullable<Text>,
        eval_claimed_until -> Nullable<Timestamp>,
        eval_error -> Nullable<Text>,
        eval_error_since -> Nullable<Timestamp>,
        stale_since -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sla_versions (id) {
        id -> Text,
        sla_id -> Text,
        version -> Integer,
        definition -> Text,
        status -> Text,
        proposed_by -> Text,
        proposed_at -> Timestamp,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        reason -> Nullable<Text>,
        effective_from -> Nullable<Timestamp>,
        effective_until -> Nullable<Timestamp>,
        calendar_snapshot -> Nullable<Text>,
    }
}

diesel::table! {
    sla_approvals (id) {
        id -> Text,
        sla_version_id -> Text,
        team_id -> Text,
        user_id -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        external_id -> Text,
        kind -> Text,
        subject_id -> Text,
        team_id -> Text,
        occurred_at -> Timestamp,
        received_at -> Timestamp,
        attributes -> Text,
        submitted_by -> Nullable<Text>,
    }
}

diesel::table! {
    evaluations (id) {
        id -> Text,
        sla_id -> Text,
        version -> Integer,
        period_start -> Timestamp,
        period_end -> Timestamp,
        is_final -> Bool,
        value -> Nullable<Double>,
        target -> Double,
        op -> Text,
        status -> Text,
        data_stale -> Bool,
        details -> Text,
        evaluated_at -> Timestamp,
    }
}

diesel::table! {
    breaches (id) {
        id -> Text,
        sla_id -> Text,
        version -> Integer,
        period_start -> Timestamp,
        period_end -> Timestamp,
        status -> Text,
        value -> Nullable<Double>,
        target -> Double,
        op -> Text,
        opened_at -> Timestamp,
        acknowledged_by -> Nullable<Text>,
        acknowledged_at -> Nullable<Timestamp>,
        note -> Nullable<Text>,
        disputed_by -> Nullable<Text>,
        dispute_reason -> Nullable<Text>,
        closed_at -> Nullable<Timestamp>,
        last_reminded_at -> Nullable<Timestamp>,
        is_historical -> Bool,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        kind -> Text,
        team_id -> Nullable<Text>,
        channel -> Text,
        recipient -> Text,
        subject -> Text,
        payload -> Text,
        dedupe_key -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        headers -> Nullable<Text>,
    }
}

diesel::table! {
    held_messages (id) {
        id -> Text,
        team_id -> Text,
        batch -> Text,
        kind -> Text,
        facts -> Text,
        dedupe_key -> Text,
        created_at -> Timestamp,
        released_in -> Nullable<Text>,
    }
}

diesel::joinable!(breaches -> slas (sla_id));
diesel::joinable!(evaluations -> slas (sla_id));
diesel::joinable!(events -> teams (team_id));
diesel::joinable!(sla_versions -> slas (sla_id));
diesel::joinable!(sla_approvals -> sla_versions (sla_version_id));
diesel::joinable!(sla_approvals -> teams (team_id));
diesel::joinable!(sla_approvals -> users (user_id));
