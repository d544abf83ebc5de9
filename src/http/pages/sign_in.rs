//! `/sign-in` and `/sign-out`: the session's start and end.

use actix_session::SessionExt;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Chrome, PageError, PageResult, checked_form, safe_next, see_other};
use crate::auth::session;
use crate::error::AppError;
use crate::startup::AppState;

#[derive(Template)]
#[template(path = "pages/sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    next: String,
    email: String,
    problem: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn render(
    status: actix_web::http::StatusCode,
    page: SignInPage,
    retry_after: Option<u64>,
) -> PageResult {
    let mut response = HttpResponse::build(status);
    response.content_type("text/html; charset=utf-8");
    if let Some(secs) = retry_after {
        response.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
    }
    Ok(response.body(page.render()?))
}

fn chrome(csrf: String) -> Chrome {
    Chrome {
        title: "Sign in".into(),
        who: None,
        csrf,
        refresh: None,
    }
}

/// The sign-in form; a person already signed in goes on to `next`.
pub async fn form(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<NextQuery>,
) -> PageResult {
    let session = req.get_session();
    let next = safe_next(query.next.as_deref());
    if session::person(&state, &session).await?.is_some() {
        return see_other(&next);
    }
    let page = SignInPage {
        chrome: chrome(session::csrf_token(&session)?),
        next,
        email: String::new(),
        problem: None,
    };
    render(actix_web::http::StatusCode::OK, page, None)
}

/// Checks the password (through the API's sign-in, so failures count against the same limit),
/// starts the session and goes on to `next`.
pub async fn submit(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> PageResult {
    let session = req.get_session();
    let form = checked_form(&session, &body)?;
    let next = safe_next(form.get("next").as_deref());
    let email = form.text("email");
    let password = form
        .0
        .iter()
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v.clone());
    let address = req.peer_addr().map(|a| a.ip());
    let outcome = match password {
        Some(password) if !email.is_empty() => {
            crate::auth::sign_in(&state, &email, password, address).await
        }
        _ => Err(AppError::Unauthorized("wrong email or password")),
    };
    match outcome {
        Ok(user) => {
            session::start(&session, &user, state.clock.now())?;
            see_other(&next)
        }
        Err(error @ (AppError::Unauthorized(_) | AppError::TooManyRequests { .. })) => {
            let (status, retry_after) = match &error {
                AppError::TooManyRequests {
                    retry_after_secs, ..
                } => (
                    actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                    Some(*retry_after_secs),
                ),
                _ => (actix_web::http::StatusCode::UNAUTHORIZED, None),
            };
            let problem = match &error {
                AppError::TooManyRequests { .. } => error.to_string(),
                _ => "Wrong email or password.".to_string(),
            };
            let page = SignInPage {
                chrome: chrome(session::csrf_token(&session)?),
                next,
                email,
                problem: Some(problem),
            };
            render(status, page, retry_after)
        }
        Err(other) => Err(PageError::Failed(other)),
    }
}

/// Ends the session (the form carries the anti-forgery token, so no other site signs anyone out).
pub async fn sign_out(req: HttpRequest, body: web::Bytes) -> PageResult {
    let session = req.get_session();
    checked_form(&session, &body)?;
    session::end(&session);
    see_other("/sign-in")
}
