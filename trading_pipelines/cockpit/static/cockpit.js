// Operator actions: POST /api/v1/control/{action} with the token the operator types in.
// The token lives in this tab's sessionStorage only; the page never contains it.
(function () {
  const token = document.getElementById("token");
  const reason = document.getElementById("reason");
  const result = document.getElementById("result");
  if (!token) return;
  token.value = sessionStorage.getItem("cockpitToken") || "";
  token.addEventListener("change", () => sessionStorage.setItem("cockpitToken", token.value));
  async function send(action, symbol) {
    const body = { reason: reason.value || "from the web cockpit" };
    if (symbol) body.symbol = symbol;
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
    button.addEventListener("click", () => {
      const symbol = button.dataset.action === "close-position"
        ? document.getElementById("symbol").value : null;
      send(button.dataset.action, symbol);
    });
  });
})();
