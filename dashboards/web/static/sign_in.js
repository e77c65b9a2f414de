// The sign-in page: ask for a code, then sign in with it, then go on to the page asked for.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const ask = document.getElementById("ask");
  const enter = document.getElementById("enter");
  const message = document.getElementById("message");
  const phone = document.getElementById("phone");
  const code = document.getElementById("code");

  function say(answer, body) {
    const key = body && (body.error || body.code);
    message.textContent = data.words[key] || (body && body.message) || data.words.failed;
  }

  async function post(url, body) {
    const answer = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
    });
    let parsed = null;
    try { parsed = await answer.json(); } catch (_) { /* an empty or non-JSON answer */ }
    return [answer, parsed];
  }

  ask.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    const [answer, body] = await post("/api/v1/session/code", {phone: phone.value});
    if (answer.status === 202) {
      ask.hidden = true;
      enter.hidden = false;
      code.focus();
    } else {
      say(answer, answer.status === 422 ? {error: "invalid_phone"} : body);
    }
  });

  enter.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    const [answer, body] = await post("/api/v1/session", {phone: phone.value, code: code.value.trim()});
    if (answer.ok) {
      window.location.assign(data.next);
    } else {
      say(answer, body);
    }
  });

  document.getElementById("again").addEventListener("click", () => {
    enter.hidden = true;
    ask.hidden = false;
    code.value = "";
    phone.focus();
  });
})();
