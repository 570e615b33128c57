// The front-end example: asks the gateway what the caller may do
// (GET /.well-known/permissions) and decides with the gateway's own matcher, compiled to
// WebAssembly (@portcullis/permissions), which components to show and which of their
// fields exist. The gateway still enforces everything: this only keeps the page from
// offering what would answer 403, or drawing sections the gateway will empty.
import init, { Permissions } from "@portcullis/permissions";

const ACCOUNT = "demostore";
const COMPONENTS = [
  { id: "contract-view", url: `/accounts/${ACCOUNT}/contracts/123-456`, render: renderContract },
  { id: "contract-list", url: `/accounts/${ACCOUNT}/contracts`, render: renderContracts },
  { id: "finance-reports", url: "/finance/reports", render: renderReports },
];

const $ = (selector, root = document) => root.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

/** The token: `#token=...` in the address (kept out of server logs), or the form. */
function token() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) sessionStorage.setItem("portcullis-token", fromHash);
  return fromHash || sessionStorage.getItem("portcullis-token");
}

async function get(url, bearer) {
  const response = await fetch(url, { headers: { authorization: `Bearer ${bearer}` } });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return response;
}

/** Rows for the fields of `object` the gateway leaves in (`prefix` is the object's path). */
function fields(p, requirement, object, names, prefix = "") {
  const list = el("dl");
  for (const name of names) {
    if (p.isHidden(requirement, prefix + name) || !(name in object)) continue;
    list.append(el("dt", {}, name), el("dd", { "data-field": prefix + name }, object[name]));
  }
  return list;
}

function renderContract(p, requirement, contract) {
  const out = [el("h3", {}, "Contract"), fields(p, requirement, contract, ["id", "contractOwner", "source"])];
  // A section exists only if the gateway sends it: `mother` is hidden from ATENDIMENTO.
  for (const [key, title] of [["user", "Customer"], ["mother", "Mother"]]) {
    if (p.isHidden(requirement, key)) continue;
    out.push(el("div", { "data-section": key },
      el("h3", {}, title),
      fields(p, requirement, contract[key] ?? {}, ["name", "cpf", "rendaMensal"], `${key}.`)));
  }
  return out;
}

function renderContracts(p, requirement, contracts) {
  const columns = [["id", "id"], ["contractOwner", "owner"], ["source", "source"], ["user.name", "customer"], ["user.cpf", "CPF"]]
    .filter(([path]) => !p.isHidden(requirement, path));
  const value = (c, path) => path.split(".").reduce((v, k) => v?.[k], c) ?? "";
  return [el("table", {},
    el("thead", {}, el("tr", {}, ...columns.map(([, title]) => el("th", {}, title)))),
    el("tbody", {}, ...contracts.map((c) => el("tr", {}, ...columns.map(([path]) => el("td", {}, value(c, path)))))))];
}

function renderReports(_p, _requirement, body) {
  return [el("table", {}, el("tbody", {}, ...body.reports.map((r) => el("tr", {}, el("td", {}, r.month), el("td", {}, r.revenue)))))];
}

function explain(p) {
  const aside = $("#permissions");
  $(".who", aside).append(
    el("dt", {}, "subject"), el("dd", {}, p.subject ?? "—"),
    el("dt", {}, "tenant"), el("dd", {}, p.tenant ?? "—"),
    el("dt", {}, "grants"), el("dd", {}, ...p.grants.map((g) => el("div", {}, el("code", {}, g)))));
  for (const component of COMPONENTS) {
    const requirement = document.getElementById(component.id).dataset.requirement;
    const allowed = p.can(requirement);
    $(".decisions tbody", aside).append(el("tr", {},
      el("td", {}, component.id),
      el("td", { class: "mono" }, requirement),
      el("td", { class: allowed ? "yes" : "no" }, String(allowed)),
      el("td", { class: "mono" }, allowed ? JSON.stringify(p.hiddenFields(requirement)) : "—")));
  }
  aside.hidden = false;
}

async function main() {
  const bearer = token();
  if (!bearer) {
    $("#status").textContent = "No token: paste one (make -s token).";
    $("#login").hidden = false;
    $("#login").addEventListener("submit", (e) => {
      e.preventDefault();
      location.hash = `token=${new FormData(e.target).get("token").trim()}`;
      location.reload();
    });
    document.body.dataset.state = "no-token";
    return;
  }
  await init(); // fetches and compiles the .wasm next to the module
  const p = Permissions.fromJson(await (await get("/.well-known/permissions", bearer)).text());
  explain(p);
  await Promise.all(COMPONENTS.map(async (component) => {
    const section = document.getElementById(component.id);
    const requirement = section.dataset.requirement;
    section.dataset.granted = String(p.can(requirement));
    if (!p.can(requirement)) return; // stays hidden: the gateway would answer 403
    const data = await (await get(component.url, bearer)).json();
    $(".body", section).replaceChildren(...component.render(p, requirement, data));
    section.hidden = false;
  }));
  $("#status").textContent = `Signed in as ${p.subject} (${p.tenant})`;
  document.body.dataset.visible = COMPONENTS.map((c) => c.id)
    .filter((id) => document.getElementById(id)?.checkVisibility?.() ?? !document.getElementById(id)?.hidden)
    .join(" ");
  document.body.dataset.state = "ready";
}

main().catch((error) => {
  $("#status").textContent = `Error: ${error.message}`;
  document.body.dataset.state = "error";
  document.body.dataset.error = error.message;
});
