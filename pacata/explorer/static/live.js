// Live updates of the home page: each block event from /events (server-sent events) becomes
// the first row of #latest-blocks, and the tip fields change, without a reload. Text only
// (textContent): nothing from the stream is parsed as HTML.
(function () {
  "use strict";
  var MAX_ROWS = 10;
  var body = document.getElementById("latest-blocks");
  if (!body || !window.EventSource) { return; }

  function cell(tag, text, href, title, className) {
    var element = document.createElement(tag);
    if (tag === "th") { element.scope = "row"; }
    if (className) { element.className = className; }
    if (href) {
      var link = document.createElement("a");
      link.href = href;
      link.textContent = text;
      if (title) { link.title = title; }
      if (className === "hash-cell") { link.className = "hash"; }
      element.appendChild(link);
    } else {
      element.textContent = text;
    }
    return element;
  }

  function row(block) {
    var tr = document.createElement("tr");
    tr.className = "new-row";
    tr.appendChild(cell("th", String(block.height), "/block/" + block.height));
    tr.appendChild(cell("td", block.hash.slice(0, 12) + "…", "/block/" + block.hash, block.hash, "hash-cell"));
    tr.appendChild(cell("td", block.time));
    tr.appendChild(cell("td", block.producer.slice(0, 14) + "…", "/address/" + block.producer, block.producer, "hash-cell"));
    tr.appendChild(cell("td", String(block.tx_count), null, null, "num"));
    tr.appendChild(cell("td", block.fees_text, null, null, "num"));
    tr.appendChild(cell("td", block.size_text, null, null, "num"));
    return tr;
  }

  function setLink(id, text, href) {
    var element = document.getElementById(id);
    if (!element) { return; }
    element.textContent = "";
    var link = document.createElement("a");
    link.href = href;
    link.textContent = text;
    element.appendChild(link);
  }

  var status = document.getElementById("live-status");
  var source = new EventSource("/events");
  source.addEventListener("block", function (message) {
    var block = JSON.parse(message.data);
    var first = body.querySelector("tr th a");
    if (first && Number(first.textContent) >= block.height) { return; }
    body.insertBefore(row(block), body.firstChild);
    while (body.rows.length > MAX_ROWS) { body.deleteRow(body.rows.length - 1); }
    setLink("tip-height", String(block.height), "/block/" + block.height);
    setLink("tip-hash", block.hash, "/block/" + block.hash);
    var pool = document.getElementById("mempool-size");
    if (pool) { pool.textContent = block.mempool_size + " transactions"; }
    if (status) {
      status.hidden = false;
      status.textContent = "Live: block " + block.height + " arrived.";
    }
  });
  source.addEventListener("open", function () {
    if (status) { status.hidden = false; status.textContent = "Live: new blocks appear here."; }
  });
})();
