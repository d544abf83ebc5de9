//! Authentication holes a real attacker would try: every one must be a 401.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{ADMIN_EMAIL, JWT_SECRET, PASSWORD, TestApp, expect_problem, expect_status};
use crate::on_both_backends;

fn claims(sub: &str, overrides: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims =
        json!({"iss": "accord", "aud": "accord-api", "sub": sub, "iat": now, "exp": now + 600});
    for (key, value) in overrides.as_object().expect("object") {
        claims[key] = value.clone();
    }
    claims
}

fn sign(algorithm: Algorithm, secret: &str, claims: &Value) -> String {
    encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

async fn admin_id(app: &TestApp) -> String {
    let me = expect_status(
        app.get("/api/v1/users/me", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    me["id"].as_str().expect("id").to_string()
}

async fn assert_refused(app: &TestApp, token: &str, why: &str) {
    let response = app.get("/api/v1/teams", token).await;
    let www_authenticate = response.headers().get("www-authenticate").cloned();
    let problem = expect_problem(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        www_authenticate.as_ref().and_then(|v| v.to_str().ok()),
        Some("Bearer"),
        "{why}: {problem}"
    );
}

async fn a_token_from_the_token_endpoint_works(app: TestApp) {
    let response = app
        .request(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(&json!({"email": ADMIN_EMAIL, "password": crate::helpers::ADMIN_PASSWORD})),
        )
        .await;
    let body = expect_status(response, StatusCode::OK).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    expect_status(app.get("/api/v1/teams", token).await, StatusCode::OK).await;
    // A token forged the way accord signs them, as a control for the refusals below.
    let forged = sign(
        Algorithm::HS256,
        JWT_SECRET,
        &claims(&admin_id(&app).await, json!({})),
    );
    expect_status(app.get("/api/v1/teams", &forged).await, StatusCode::OK).await;
}

async fn wrong_credentials_get_the_same_401(app: TestApp) {
    for body in [
        json!({"email": ADMIN_EMAIL, "password": "not the password"}),
        json!({"email": "nobody@example.com", "password": "not the password"}),
    ] {
        let problem = expect_problem(
            app.request(Method::POST, "/api/v1/auth/token", None, Some(&body))
                .await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(problem["detail"], "wrong email or password");
    }
}

async fn requests_without_a_valid_token_are_401(app: TestApp) {
    let response = app.request(Method::GET, "/api/v1/teams", None, None).await;
    expect_problem(response, StatusCode::UNAUTHORIZED).await;
    let response = app
        .client
        .get(app.url("/api/v1/teams"))
        .header("authorization", "Basic YWRtaW46YWRtaW4=")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNAUTHORIZED).await;
    assert_refused(&app, "not-a-jwt", "garbage").await;
    assert_refused(&app, "acc_unknownservicetoken", "unknown service token").await;
}

async fn forged_and_tampered_tokens_are_401(app: TestApp) {
    let sub = admin_id(&app).await;
    let other = app.create_user(None, "admin").await;

    // A valid token whose payload is swapped for another user's, keeping the signature.
    let valid = sign(Algorithm::HS256, JWT_SECRET, &claims(&other.id, json!({})));
    let [header, _, signature]: [&str; 3] =
        valid.split('.').collect::<Vec<_>>().try_into().unwrap();
    let other_payload = URL_SAFE_NO_PAD.encode(claims(&sub, json!({})).to_string());
    assert_refused(
        &app,
        &format!("{header}.{other_payload}.{signature}"),
        "tampered payload",
    )
    .await;

    // A flipped character in the signature.
    let mut tampered = valid.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_refused(&app, &tampered, "tampered signature").await;

    // alg: none, with and without a trailing dot.
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(&sub, json!({})).to_string());
    assert_refused(&app, &format!("{none_header}.{payload}."), "alg none").await;
    assert_refused(
        &app,
        &format!("{none_header}.{payload}"),
        "alg none without signature",
    )
    .await;

    // The right secret with another HMAC algorithm, and the right algorithm with another secret.
    assert_refused(
        &app,
        &sign(Algorithm::HS512, JWT_SECRET, &claims(&sub, json!({}))),
        "HS512",
    )
    .await;
    assert_refused(
        &app,
        &sign(Algorithm::HS384, JWT_SECRET, &claims(&sub, json!({}))),
        "HS384",
    )
    .await;
    assert_refused(
        &app,
        &sign(
            Algorithm::HS256,
            "another-secret-another-secret-!!!",
            &claims(&sub, json!({})),
        ),
        "other secret",
    )
    .await;
}

async fn expired_and_misaddressed_tokens_are_401(app: TestApp) {
    let sub = admin_id(&app).await;
    let hour_ago = chrono::Utc::now().timestamp() - 3600;
    let cases = [
        (json!({"exp": hour_ago, "iat": hour_ago - 60}), "expired"),
        (json!({"aud": "another-api"}), "wrong audience"),
        (json!({"iss": "someone-else"}), "wrong issuer"),
        (json!({"exp": null}), "no expiry"),
        (
            json!({"sub": "0190f0f0-0000-7000-8000-000000000000"}),
            "unknown user",
        ),
    ];
    for (overrides, why) in cases {
        let mut claims = claims(&sub, overrides.clone());
        if overrides.get("exp").is_some_and(Value::is_null) {
            claims.as_object_mut().unwrap().remove("exp");
        }
        assert_refused(&app, &sign(Algorithm::HS256, JWT_SECRET, &claims), why).await;
    }
}

async fn a_deactivated_account_is_refused_at_once(app: TestApp) {
    app.create_team("sales").await;
    let member = app.create_user(Some("sales"), "member").await;
    expect_status(
        app.get("/api/v1/teams", &member.token).await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        app.delete(&format!("/api/v1/users/{}", member.id), app.admin())
            .await,
        StatusCode::OK,
    )
    .await;
    assert_refused(&app, &member.token, "deactivated").await;
    let body = json!({"email": member.email, "password": PASSWORD});
    expect_problem(
        app.request(Method::POST, "/api/v1/auth/token", None, Some(&body))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn a_revoked_service_token_is_refused_on_its_next_request(app: TestApp) {
    app.create_team("marketing").await;
    let (token, id) = app
        .create_service_token(Some("marketing"), &["events:write", "status:read"])
        .await;
    let teams = expect_status(app.get("/api/v1/teams", &token).await, StatusCode::OK).await;
    assert_eq!(teams["items"][0]["slug"], "marketing");

    let listed = expect_status(
        app.get("/api/v1/service-tokens", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert!(
        listed["items"][0].get("token").is_none(),
        "the secret is shown only once"
    );

    expect_status(
        app.delete(&format!("/api/v1/service-tokens/{id}"), app.admin())
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let problem = expect_problem(
        app.get("/api/v1/teams", &token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("revoked"),
        "{problem}"
    );
    let listed = expect_status(
        app.get("/api/v1/service-tokens", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    assert!(listed["items"][0]["revoked_at"].is_string());
}

/// A token with any header, HMAC-SHA256-signed with `secret` whatever the header says.
fn sign_raw(header: &Value, claims: &Value, secret: &str) -> String {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signed}.{signature}")
}

/// Replaces the payload of a signed token, keeping its header and signature.
fn with_payload(token: &str, claims: &Value) -> String {
    let [header, _, signature]: [&str; 3] =
        token.split('.').collect::<Vec<_>>().try_into().unwrap();
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.{signature}")
}

async fn other_algorithms_in_the_header_are_401(app: TestApp) {
    let claims = claims(&admin_id(&app).await, json!({}));
    // The control: this is how accord signs, and it is accepted.
    let good = sign_raw(&json!({"alg": "HS256", "typ": "JWT"}), &claims, JWT_SECRET);
    expect_status(app.get("/api/v1/teams", &good).await, StatusCode::OK).await;

    // The right secret and a valid HMAC, under a header naming an asymmetric algorithm (the
    // confusion attack: a verifier that trusts the header might check it with a public key).
    for alg in ["RS256", "RS512", "PS256", "ES256", "ES384", "EdDSA"] {
        let token = sign_raw(&json!({"alg": alg, "typ": "JWT"}), &claims, JWT_SECRET);
        assert_refused(&app, &token, alg).await;
    }
    // `none` in other spellings, and an unsigned HS256 header.
    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    };
    for alg in ["None", "NONE", "nOnE", "HS256"] {
        assert_refused(&app, &unsigned(alg), &format!("unsigned {alg}")).await;
    }
    // A header without any algorithm, and one pointing at a key of the attacker's.
    assert_refused(
        &app,
        &sign_raw(&json!({"typ": "JWT"}), &claims, JWT_SECRET),
        "no alg",
    )
    .await;
    assert_refused(
        &app,
        &sign_raw(
            &json!({"alg": "RS256", "jku": "http://127.0.0.1:9/keys.json", "kid": "attacker"}),
            &claims,
            "attacker-secret-attacker-secret-!!",
        ),
        "jku",
    )
    .await;
}

async fn claims_changed_without_re_signing_are_401(app: TestApp) {
    app.create_team("sales").await;
    let member = app.create_user(Some("sales"), "member").await;
    let sub = member.id.clone();
    let valid = sign(Algorithm::HS256, JWT_SECRET, &claims(&sub, json!({})));
    expect_status(app.get("/api/v1/teams", &valid).await, StatusCode::OK).await;

    let later = chrono::Utc::now().timestamp() + 365 * 24 * 3600;
    let cases = [
        (json!({"role": "admin"}), "role added"),
        (json!({"exp": later}), "expiry extended"),
        (json!({"sub": admin_id(&app).await}), "subject changed"),
        (json!({"aud": ["accord-api", "other"]}), "audience widened"),
        (json!({"iss": "accord "}), "issuer changed"),
    ];
    for (overrides, why) in cases {
        assert_refused(&app, &with_payload(&valid, &claims(&sub, overrides)), why).await;
    }
    // An expired token whose expiry is pushed back without a new signature.
    let hour_ago = chrono::Utc::now().timestamp() - 3600;
    let expired = sign(
        Algorithm::HS256,
        JWT_SECRET,
        &claims(&sub, json!({"exp": hour_ago, "iat": hour_ago - 60})),
    );
    assert_refused(
        &app,
        &with_payload(&expired, &claims(&sub, json!({"exp": later}))),
        "expired, then extended",
    )
    .await;
    // A signature cut off, or taken from another token.
    let (unsigned, _) = valid.rsplit_once('.').unwrap();
    assert_refused(&app, &format!("{unsigned}."), "empty signature").await;
    assert_refused(&app, unsigned, "two parts").await;
    let admin_token = app.admin().to_string();
    let (_, admin_signature) = admin_token.rsplit_once('.').unwrap();
    assert_refused(
        &app,
        &format!("{unsigned}.{admin_signature}"),
        "another token's signature",
    )
    .await;
}

async fn a_role_claim_in_a_signed_token_grants_nothing(app: TestApp) {
    // Even signed with the right secret, claims beyond `sub` are not trusted: the role is read
    // from the account on every request.
    app.create_team("sales").await;
    let member = app.create_user(Some("sales"), "member").await;
    let token = sign(
        Algorithm::HS256,
        JWT_SECRET,
        &claims(&member.id, json!({"role": "admin", "team": null})),
    );
    let me = expect_status(app.get("/api/v1/users/me", &token).await, StatusCode::OK).await;
    assert_eq!(me["role"], "member");
    let team = json!({"slug": "marketing", "name": "Marketing", "email": "m@example.com"});
    expect_problem(
        app.post("/api/v1/teams", &token, &team).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_problem(
        app.get("/api/v1/audit", &token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

on_both_backends!(
    a_token_from_the_token_endpoint_works,
    wrong_credentials_get_the_same_401,
    requests_without_a_valid_token_are_401,
    forged_and_tampered_tokens_are_401,
    expired_and_misaddressed_tokens_are_401,
    a_deactivated_account_is_refused_at_once,
    a_revoked_service_token_is_refused_on_its_next_request,
    other_algorithms_in_the_header_are_401,
    claims_changed_without_re_signing_are_401,
    a_role_claim_in_a_signed_token_grants_nothing,
);
