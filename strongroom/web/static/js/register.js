// Live password feedback for <input data-strength="#box">: the server's own policy
// (POST /api/v1/auth/password-check: length, breached list, zxcvbn, not the username),
// asked once typing pauses, shown as a meter and the reasons in an aria-live box.
// <input data-same-as="#password"> says whether the confirmation matches.
// Without JavaScript the form still works; the server checks everything again.

const PAUSE_MS = 350;
const VERDICTS = ["Very weak", "Weak", "Fair", "Good", "Strong"];

function usernameFor(input) {
  const source = input.dataset.usernameFrom && document.querySelector(input.dataset.usernameFrom);
  return source ? source.value.trim() : input.dataset.username || "";
}

async function ask(password, username) {
  const answer = await fetch("/api/v1/auth/password-check", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    credentials: "same-origin",
    body: JSON.stringify({ password, username }),
  });
  if (!answer.ok) throw new Error(`password check: ${answer.status}`);
  return answer.json();
}

function show(box, verdict) {
  const meter = box.querySelector("meter");
  const text = box.querySelector(".strength-verdict");
  const reasons = box.querySelector(".strength-reasons");
  meter.value = verdict.score;
  box.dataset.acceptable = String(verdict.acceptable);
  text.textContent = verdict.acceptable
    ? `${VERDICTS[verdict.score]}: acceptable.`
    : `${VERDICTS[Math.min(verdict.score, 2)]}: not accepted yet.`;
  reasons.replaceChildren(
    ...verdict.feedback.map((reason) => {
      const item = document.createElement("li");
      item.textContent = reason;
      return item;
    }),
  );
}

function watchStrength(input) {
  const box = document.querySelector(input.dataset.strength);
  if (!box) return;
  let timer = 0;
  let asked = 0;
  const check = async () => {
    const password = input.value;
    if (!password) {
      box.hidden = true;
      return;
    }
    const mine = ++asked;
    try {
      const verdict = await ask(password, usernameFor(input));
      if (mine !== asked) return; // a later keystroke's answer wins
      box.hidden = false;
      show(box, verdict);
    } catch {
      box.hidden = false;
      box.querySelector(".strength-verdict").textContent =
        "The strength check is not available right now; the password is checked when you submit.";
    }
  };
  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(check, PAUSE_MS);
  });
  const source = input.dataset.usernameFrom && document.querySelector(input.dataset.usernameFrom);
  if (source) source.addEventListener("change", () => input.value && check());
}

function watchConfirmation(input) {
  const original = document.querySelector(input.dataset.sameAs);
  if (!original) return;
  const update = () => {
    const differs = input.value && input.value !== original.value;
    input.setCustomValidity(differs ? "The two passwords are not the same." : "");
  };
  input.addEventListener("input", update);
  original.addEventListener("input", update);
}

for (const input of document.querySelectorAll("input[data-strength]")) watchStrength(input);
for (const input of document.querySelectorAll("input[data-same-as]")) watchConfirmation(input);
