// Operator actions: POST /api/v1/control/{action} with the token the operator types in.
// The token lives in this tab's sessionStorage only; the page never contains it.
// A button names its action (data-action) and where its fields come from:
// data-fields="symbol:bl-symbol,duration:duration" reads each field from the element with
// that id (empty: left out; scale and risk_per_trade are sent as numbers, so the server
// refuses what is not one), data-instance sends that instance, data-clear sends clear: true.
(function () {
  const token = document.getElementById("token");
  const reason = document.getElementById("reason");
  const result = document.getElementById("result");
  if (!token) return;
  const NUMBERS = new Set(["scale", "risk_per_trade"]);
  token.value = sessionStorage.getItem("cockpitToken") || "";
  token.addEventListener("change", () => sessionStorage.setItem("cockpitToken", token.value));
  function bodyOf(button) {
    const body = { reason: reason.value || "from the web cockpit" };
    (button.dataset.fields || "").split(",").filter(Boolean).forEach((pair) => {
      const [field, id] = pair.split(":");
      const value = document.getElementById(id).value.trim();
      if (value !== "") body[field] = NUMBERS.has(field) ? Number(value) : value;
    });
    if (button.dataset.instance) body.instance = button.dataset.instance;
    if (button.dataset.clear) body.clear = true;
    return body;
  }
  async function send(action, body) {
    result.textContent = "sending " + action + " ...";
    const response = await fetch("/api/v1/control/" + action, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + token.value },
      body: JSON.stringify(body),
    });
    const data = await response.json();
    result.textContent = response.ok
      ? "command " + data.command_id + " (" + action + ") recorded; the executor applies it on its next tick"
      : "refused (" + response.status + "): " + data.error;
    result.dataset.status = String(response.status);
  }
  document.querySelectorAll("button[data-action]").forEach((button) => {
    button.addEventListener("click", () => send(button.dataset.action, bodyOf(button)));
  });
})();
