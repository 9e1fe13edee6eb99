//! The Import page (`/import`): paste or upload supervisord, systemd or PM2 definitions, see the services
//! they become and the report of every key that was not carried over, then create the chosen services.
//! The conversion runs on the server (the same converters as `warden import`, without reading the
//! server's files); creating goes through the ordinary create call, one service at a time, so each one
//! is validated, audited and started like a service made by hand.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::model::error::AppError;
use crate::model::import::{ImportFile, ImportFormat, ImportNoteKind, ImportOutcome};
use crate::model::service::ServiceInput;
use crate::rpc::{convert_import, create_service};

fn default_file_name(format: ImportFormat) -> &'static str {
    match format {
        ImportFormat::Supervisord => "supervisord.conf",
        ImportFormat::Systemd => "app.service",
        ImportFormat::Pm2 => "ecosystem.config.js",
    }
}

fn kind_label(kind: ImportNoteKind) -> &'static str {
    match kind {
        ImportNoteKind::Error => "could not be read",
        ImportNoteKind::Refused => "not imported",
        ImportNoteKind::Approximated => "imported with a difference",
        ImportNoteKind::Unmapped => "left out",
    }
}

/// What creating one converted service came to.
#[derive(Debug, Clone)]
struct Created {
    name: String,
    result: Result<(), String>,
}

/// Reads the files chosen in a file input (WASM only; nothing to read while rendering on the server).
#[cfg(feature = "hydrate")]
async fn read_chosen_files(input: web_sys::HtmlInputElement) -> Vec<ImportFile> {
    let mut files = Vec::new();
    let Some(list) = input.files() else {
        return files;
    };
    for i in 0..list.length() {
        let Some(file) = list.get(i) else { continue };
        let text = wasm_bindgen_futures::JsFuture::from(file.text())
            .await
            .ok()
            .and_then(|v| v.as_string());
        if let Some(text) = text {
            files.push(ImportFile {
                name: file.name(),
                text,
            });
        }
    }
    files
}

#[component]
pub fn ImportPage() -> impl IntoView {
    let format = RwSignal::new(ImportFormat::Supervisord);
    let file_name = RwSignal::new(default_file_name(ImportFormat::Supervisord).to_string());
    let pasted = RwSignal::new(String::new());
    let uploaded = RwSignal::new(Vec::<ImportFile>::new());
    let outcome = RwSignal::new(None::<ImportOutcome>);
    let chosen = RwSignal::new(Vec::<bool>::new());
    let created = RwSignal::new(Vec::<Created>::new());
    let problem = RwSignal::new(None::<String>);

    let convert = Action::new(move |(format, files): &(ImportFormat, Vec<ImportFile>)| {
        convert_import(*format, files.clone())
    });
    Effect::new(move |_| match convert.value().get() {
        Some(Ok(result)) => {
            chosen.set(vec![true; result.services.len()]);
            created.set(Vec::new());
            outcome.set(Some(result));
            problem.set(None);
        }
        Some(Err(e)) => problem.set(Some(e.to_string())),
        None => {}
    });
    let create_all = Action::new(move |services: &Vec<ServiceInput>| {
        let services = services.clone();
        async move {
            let mut results = Vec::new();
            for input in services {
                let name = input.name.clone();
                let result = match create_service(input).await {
                    Ok(_) => Ok(()),
                    Err(AppError::Invalid(fields) | AppError::Conflict(fields)) => Err(fields
                        .into_iter()
                        .map(|f| format!("{}: {}", f.field, f.message))
                        .collect::<Vec<_>>()
                        .join("; ")),
                    Err(e) => Err(e.to_string()),
                };
                results.push(Created { name, result });
            }
            results
        }
    });
    Effect::new(move |_| {
        if let Some(results) = create_all.value().get() {
            created.set(results);
        }
    });

    let on_format = move |ev: leptos::ev::Event| {
        if let Some(f) = ImportFormat::parse(&event_target_value(&ev)) {
            format.set(f);
            file_name.set(default_file_name(f).to_string());
        }
    };
    let on_files = move |_ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            if let Some(input) = _ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            {
                leptos::task::spawn_local(async move {
                    uploaded.set(read_chosen_files(input).await);
                });
            }
        }
    };
    let on_convert = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut files = uploaded.get_untracked();
        let text = pasted.get_untracked();
        if !text.trim().is_empty() {
            let name = file_name.get_untracked();
            let name = if name.trim().is_empty() {
                default_file_name(format.get_untracked()).to_string()
            } else {
                name.trim().to_string()
            };
            files.push(ImportFile { name, text });
        }
        if files.is_empty() {
            problem.set(Some("Paste a definition or choose files first.".into()));
            return;
        }
        convert.dispatch((format.get_untracked(), files));
    };
    let on_create = move |_| {
        let Some(result) = outcome.get_untracked() else {
            return;
        };
        let picks = chosen.get_untracked();
        let services: Vec<ServiceInput> = result
            .services
            .into_iter()
            .zip(picks)
            .filter_map(|(s, keep)| keep.then_some(s))
            .collect();
        if !services.is_empty() {
            create_all.dispatch(services);
        }
    };

    view! {
        <Title text="Import services"/>
        <h1 data-testid="page-title">"Import services"</h1>
        <p class="muted">
            "Bring supervisord programs, systemd units or PM2 apps over as Warden services. Nothing is created until you say so; "
            "every setting that has no counterpart is listed with the reason. On the server itself, "
            <code>"warden import"</code>" also follows [include] files and EnvironmentFile= and writes a document for "
            <code>"warden apply"</code>"."
        </p>
        <form class="card settings-card" on:submit=on_convert data-testid="import-form" novalidate=true>
            <label for="import_format">"Format"</label>
            <select id="import_format" data-testid="import-format" on:change=on_format>
                {ImportFormat::ALL.into_iter().map(|f| view! {
                    <option value=f.as_str() selected=move || format.get() == f>{f.label()}</option>
                }).collect_view()}
            </select>
            <label for="import_files">"Upload files"</label>
            <input id="import_files" type="file" multiple=true data-testid="import-files" on:change=on_files/>
            <label for="import_name">"File name of the pasted text"</label>
            <input id="import_name" type="text" spellcheck="false" data-testid="import-name" bind:value=file_name/>
            <p class="muted">"For a systemd unit, the file name is the service name (redis-server.service → redis-server)."</p>
            <label for="import_text">"Or paste the definitions"</label>
            <textarea id="import_text" rows="12" spellcheck="false" class="mono" data-testid="import-text"
                bind:value=pasted></textarea>
            <button type="submit" class="btn primary" data-testid="import-convert"
                disabled=move || convert.pending().get()>"Convert"</button>
            {move || problem.get().map(|p| view! { <p class="error" role="alert" data-testid="import-problem">{p}</p> })}
        </form>
        {move || outcome.get().map(|result| {
            let services = result.services.clone();
            let count = services.len();
            view! {
                <section class="card" aria-labelledby="import-services">
                    <h2 id="import-services">{format!("Services ({count})")}</h2>
                    <table class="table" data-testid="import-services">
                        <thead><tr><th>"Create"</th><th>"Name"</th><th>"Command"</th><th>"User"</th><th>"Directory"</th><th>"Restart"</th></tr></thead>
                        <tbody>
                            {services.into_iter().enumerate().map(|(i, s)| view! {
                                <tr data-testid=format!("import-service-{}", s.name)>
                                    <td><input type="checkbox" aria-label=format!("create {}", s.name)
                                        prop:checked=move || chosen.get().get(i).copied().unwrap_or(false)
                                        on:change=move |ev| { let on = event_target_checked(&ev); chosen.update(|c| if let Some(x) = c.get_mut(i) { *x = on; }); }/></td>
                                    <td>{s.name.clone()}</td>
                                    <td><code>{s.command.clone()}</code></td>
                                    <td>{s.user.clone().unwrap_or_else(|| "(service user)".into())}</td>
                                    <td>{s.working_directory.clone().unwrap_or_else(|| "-".into())}</td>
                                    <td>{s.restart.as_str()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    <button type="button" class="btn primary" data-testid="import-create"
                        disabled=move || create_all.pending().get() || !chosen.get().iter().any(|c| *c)
                        on:click=on_create>"Create the chosen services"</button>
                    <ul class="plain" data-testid="import-created">
                        {move || created.get().into_iter().map(|c| match c.result {
                            Ok(()) => view! { <li data-testid=format!("import-created-{}", c.name)>
                                <a href=format!("/services/{}", c.name)>{c.name.clone()}</a>" created"</li> }.into_any(),
                            Err(e) => view! { <li class="error" data-testid=format!("import-failed-{}", c.name)>
                                {format!("{}: not created: {e}", c.name)}</li> }.into_any(),
                        }).collect_view()}
                    </ul>
                </section>
                <section class="card" aria-labelledby="import-report">
                    <h2 id="import-report">{format!("Report ({})", result.notes.len())}</h2>
                    <table class="table" data-testid="import-report">
                        <thead><tr><th>"What"</th><th>"Where"</th><th>"Service"</th><th>"Setting"</th><th>"Why"</th></tr></thead>
                        <tbody>
                            {result.notes.into_iter().map(|n| {
                                let place = match n.line { Some(l) => format!("{}:{l}", n.file), None => n.file.clone() };
                                view! {
                                    <tr data-kind=n.kind.as_str()>
                                        <td>{kind_label(n.kind)}</td>
                                        <td>{place}</td>
                                        <td>{n.service.unwrap_or_default()}</td>
                                        <td><code>{n.key}</code></td>
                                        <td>{n.message}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </section>
            }
        })}
    }
}
