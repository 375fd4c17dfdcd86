/** The console's small DOM kit: elements from data (text is never parsed as HTML), forms, tables. */
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";

type Child = Node | string;

/** An element with attributes and children; strings become text nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

const main = () => document.getElementById("main")!;

/** Replaces the page: a title (also the document's) and its content; focus goes to the page. */
export function show(title: string, ...content: Child[]): void {
  document.title = `${title} · kubegate`;
  main().replaceChildren(el("h1", {}, title), ...content);
  main().focus();
}

/** What a person should read of an error: the server's own words. */
export function message(err: unknown): string {
  return err instanceof ConnectError ? err.rawMessage : err instanceof Error ? err.message : String(err);
}

/** "2026-12-07 13:45 UTC": the same on every machine, so people can compare notes. */
export function when(t: Timestamp | undefined, empty = "—"): string {
  if (t === undefined) return empty;
  return timestampDate(t).toISOString().replace("T", " ").replace(/:\d\d\.\d+Z$/, " UTC");
}

/** A table with a caption-like label, column headers, and rows (a row's first cell is its header). */
export function table(label: string, columns: string[], rows: HTMLTableRowElement[]): HTMLTableElement {
  return el(
    "table",
    { "aria-label": label },
    el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", { scope: "col" }, c)))),
    el("tbody", {}, ...rows),
  );
}

let fieldIds = 0;

/** A labelled control: the label names it for screen readers and clicks focus it. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLDivElement {
  control.id ||= `f${++fieldIds}`;
  const parts: Child[] = [el("label", { for: control.id }, label), control];
  if (hint !== undefined) {
    const hintId = `${control.id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(el("small", { id: hintId }, hint));
  }
  return el("div", { class: "field" }, ...parts);
}

export function input(attrs: Record<string, string> = {}): HTMLInputElement {
  return el("input", { type: "text", autocomplete: "off", ...attrs });
}

export function select(name: string, options: Array<[value: string, text: string]>, attrs: Record<string, string> = {}): HTMLSelectElement {
  return el("select", { name, ...attrs }, ...options.map(([value, text]) => el("option", { value }, text)));
}

export function button(text: string, onClick: () => void, attrs: Record<string, string> = {}): HTMLButtonElement {
  const b = el("button", { type: "button", ...attrs }, text);
  b.addEventListener("click", onClick);
  return b;
}

/**
 * A form whose submit runs `action`; while it runs the submit button is disabled, and its
 * error (the server's words) lands in the form's alert region.
 */
export function form(label: string, children: Child[], submitText: string, action: () => Promise<void>): HTMLFormElement {
  const error = el("p", { class: "error", role: "alert" });
  const submit = el("button", { type: "submit" }, submitText);
  const f = el("form", { "aria-label": label }, ...children, el("div", { class: "actions" }, submit), error);
  f.addEventListener("submit", (event) => {
    event.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    action().then(
      () => (submit.disabled = false),
      (err: unknown) => {
        submit.disabled = false;
        error.textContent = message(err);
      },
    );
  });
  return f;
}

/** Text to copy (a command, a secret) with a button that copies it. */
export function copyable(label: string, text: string, attrs: Record<string, string> = {}): HTMLDivElement {
  const code = el("code", attrs, text);
  const status = el("span", { role: "status", class: "copied" });
  const copy = button(`Copy ${label}`, () => {
    navigator.clipboard.writeText(text).then(
      () => (status.textContent = "Copied."),
      () => (status.textContent = "Copying was refused: select the text instead."),
    );
  });
  // A long line scrolls: the keyboard must reach it too.
  return el("div", { class: "copyable" }, el("pre", { tabindex: "0" }, code), copy, status);
}

/** Offers `text` as a file download, as a link click would. */
export function download(filename: string, text: string, type = "application/yaml"): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A list from a comma- or space-separated field, without empty items. */
export function words(value: string): string[] {
  return value.split(/[\s,]+/).filter((w) => w !== "");
}

/**
 * Asks before something that cannot be undone: a modal dialog (focus stays inside, Escape
 * cancels) with an optional reason field. Resolves with the reason, or undefined on cancel.
 */
export function confirmAction(title: string, text: string, confirmText: string, reasonLabel?: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const reason = input({ name: "reason", maxlength: "512" });
    const ok = el("button", { type: "submit", class: "danger" }, confirmText);
    const cancel = el("button", { type: "button" }, "Cancel");
    const dialog = el(
      "dialog",
      { "aria-labelledby": "dialog-title" },
      el("form", { method: "dialog" }, el("h2", { id: "dialog-title" }, title), el("p", {}, text), ...(reasonLabel === undefined ? [] : [field(reasonLabel, reason)]), el("div", { class: "actions" }, ok, cancel)),
    );
    let answer: string | undefined;
    ok.addEventListener("click", () => (answer = reason.value));
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    (reasonLabel === undefined ? ok : reason).focus();
  });
}
