//! The Users page: every account with its role, state and second factor; admins create users and
//! change their role, disable or enable them, reset their second factor and delete them (the server
//! refuses to remove the last enabled admin, shown as a toast). A `read` user sees the list with every
//! control disabled (the shell disables the page's controls for read-only callers).

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::live_form::use_form_live;
use crate::components::toast::use_toasts;
use crate::model::error::AppError;
use crate::model::users::{validate_user_create, Role, UserCreate, UserPatch, UserView};
use crate::model::FieldError;
use crate::pages::settings::short_time;
use crate::rpc::{create_user, delete_user, list_users, remove_totp, update_user};

/// One change to a listed user.
#[derive(Debug, Clone)]
enum UserOp {
    Update(String, UserPatch),
    ResetTotp(String),
    Delete(String),
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let toasts = use_toasts();
    let live = use_form_live();
    let users = Resource::new(|| (), |_| list_users());
    let op = Action::new(move |op: &UserOp| {
        let op = op.clone();
        async move {
            match op {
                UserOp::Update(name, patch) => update_user(name, patch).await.map(|_| ()),
                UserOp::ResetTotp(name) => remove_totp(Some(name)).await,
                UserOp::Delete(name) => delete_user(name).await,
            }
        }
    });
    Effect::new(move |_| match op.value().get() {
        Some(Ok(())) => {
            users.refetch();
            toasts.success("Saved.");
        }
        Some(Err(e)) => toasts.error(format!("Not changed: {e}")),
        None => {}
    });

    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new("read".to_string());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let create = Action::new(move |c: &UserCreate| create_user(c.clone()));
    Effect::new(move |_| match create.value().get() {
        Some(Ok(u)) => {
            username.set(String::new());
            password.set(String::new());
            errors.set(Vec::new());
            users.refetch();
            toasts.success(format!("User {} created.", u.username));
        }
        Some(Err(AppError::Invalid(fields) | AppError::Conflict(fields))) => errors.set(fields),
        Some(Err(e)) => toasts.error(format!("Not created: {e}")),
        None => {}
    });
    let on_create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = UserCreate {
            username: username.get_untracked(),
            password: password.get_untracked(),
            role: if role.get_untracked() == "admin" {
                Role::Admin
            } else {
                Role::Read
            },
        };
        let problems = validate_user_create(&request);
        if problems.is_empty() {
            create.dispatch(request);
        } else {
            errors.set(problems);
        }
    };
    let error_of = move |field: &'static str| {
        move || {
            errors
                .get()
                .into_iter()
                .find(|e| e.field == field)
                .map(|e| view! { <p class="field-error" role="alert" data-testid=format!("error-{field}")>{e.message}</p> })
        }
    };

    view! {
        <Title text="Users"/>
        <h1 data-testid="page-title">"Users"</h1>
        <p class="muted">"Admins may change everything; read users see every page but change nothing."</p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || users.get().map(|result| match result {
                Ok(list) => view! {
                    <table class="table" data-testid="users-table">
                        <thead><tr>
                            <th>"User"</th><th>"Role"</th><th>"State"</th><th>"Second factor"</th>
                            <th>"Created"</th><th>"Actions"</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|u| view! { <UserRow user=u op/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </Transition>
        <section class="card settings-card" aria-labelledby="users-new">
            <h2 id="users-new">"New user"</h2>
            <form on:submit=on_create data-testid="user-form" inert=move || !live.get() novalidate=true>
                <label for="new_username">"User name"</label>
                <input id="new_username" type="text" autocapitalize="none" spellcheck="false"
                    data-testid="user-username" bind:value=username/>
                {error_of("username")}
                <label for="new_user_password">"Password"</label>
                <input id="new_user_password" type="password" autocomplete="new-password"
                    data-testid="user-password" bind:value=password/>
                {error_of("password")}
                <label for="new_user_role">"Role"</label>
                <select id="new_user_role" data-testid="user-role" bind:value=role>
                    <option value="read">"read: sees everything, changes nothing"</option>
                    <option value="admin">"admin: everything"</option>
                </select>
                <div class="form-actions">
                    <button type="submit" class="btn primary" data-testid="user-create">"Create user"</button>
                </div>
            </form>
        </section>
    }
}

#[component]
fn UserRow(user: UserView, op: Action<UserOp, Result<(), AppError>>) -> impl IntoView {
    let name = user.username.clone();
    let (n1, n2, n3, n4) = (name.clone(), name.clone(), name.clone(), name.clone());
    let other_role = match user.role {
        Role::Admin => Role::Read,
        Role::Read => Role::Admin,
    };
    let enabled = user.enabled;
    view! {
        <tr data-testid=format!("user-{name}")>
            <td>{name.clone()}</td>
            <td>{user.role.as_str()}</td>
            <td>{if enabled { "enabled" } else { "disabled" }}</td>
            <td>{if user.totp { "on" } else { "off" }}</td>
            <td>{short_time(&user.created_at)}</td>
            <td class="actions">
                <button type="button" class="btn" data-testid="user-role-toggle"
                    on:click=move |_| { op.dispatch(UserOp::Update(n1.clone(), UserPatch { role: Some(other_role), ..Default::default() })); }>
                    {format!("Make {}", other_role.as_str())}
                </button>
                <button type="button" class="btn" data-testid="user-enable-toggle"
                    on:click=move |_| { op.dispatch(UserOp::Update(n2.clone(), UserPatch { enabled: Some(!enabled), ..Default::default() })); }>
                    {if enabled { "Disable" } else { "Enable" }}
                </button>
                <Show when=move || user.totp>
                    <button type="button" class="btn" data-testid="user-totp-reset"
                        on:click={
                            let n = n3.clone();
                            move |_| { op.dispatch(UserOp::ResetTotp(n.clone())); }
                        }>
                        "Reset second factor"
                    </button>
                </Show>
                <button type="button" class="btn danger" data-testid="user-delete"
                    on:click=move |_| { op.dispatch(UserOp::Delete(n4.clone())); }>
                    "Delete"
                </button>
            </td>
        </tr>
    }
}
