// The venue page's live feed: entries and exits as the server sends them (server-sent
// events from /venues/<id>/feed). The newest is on top; the list keeps the last 100.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const words = data.words;
  const list = document.getElementById("feed");
  const empty = document.getElementById("feed-empty");
  const status = document.getElementById("feed-status");
  const notice = document.getElementById("feed-notice");
  const KEEP = 100;

  function setStatus(state) {
    status.dataset.state = state;
    status.textContent = words[state === "live" ? "live" : state === "lost" ? "lost" : "waiting"];
  }

  function stop(source, why) {
    source.close();
    setStatus("waiting");
    status.textContent = "";
    notice.textContent = words[why] + " ";
    if (why === "reload") {
      const again = document.createElement("button");
      again.type = "button";
      again.textContent = words.again;
      again.addEventListener("click", () => location.reload());
      notice.append(again);
    }
    notice.hidden = false;
  }

  function item(movement) {
    const li = document.createElement("li");
    li.className = "movement " + movement.kind;
    const badge = document.createElement("span");
    badge.className = "badge " + movement.kind;
    badge.textContent = words[movement.kind];
    const time = document.createElement("time");
    time.textContent = movement.time;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = movement.name;
    const phone = document.createElement("span");
    phone.className = "phone muted";
    phone.textContent = movement.phone;
    li.append(badge, time, name, phone);
    if (movement.kind === "exit" && words[movement.how]) {
      const how = document.createElement("span");
      how.className = "how muted";
      how.textContent = words[movement.how];
      li.append(how);
    }
    return li;
  }

  const source = new EventSource(data.feed);
  source.addEventListener("status", (e) => setStatus(JSON.parse(e.data).live ? "live" : "waiting"));
  source.addEventListener("movement", (e) => {
    list.prepend(item(JSON.parse(e.data)));
    empty.hidden = true;
    while (list.children.length > KEEP) list.lastElementChild.remove();
  });
  for (const why of ["reload", "signed-out", "denied"]) {
    source.addEventListener(why, () => stop(source, why));
  }
  source.onerror = () => {
    // Closed: the server refused the stream (signed out). Otherwise the browser retries.
    if (source.readyState === EventSource.CLOSED) stop(source, "signed-out");
    else setStatus("lost");
  };
})();
