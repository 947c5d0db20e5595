// The composer's thread: "Add a part" gives another part box, with its own counter (the
// counters' answer fills it in by its id). Without JavaScript the page offers a few fixed
// boxes instead; the server leaves out the empty ones. Only the composer loads this file.
"use strict";
(function () {
  var button = document.getElementById("add-part");
  var list = document.getElementById("thread-parts");
  if (!button || !list) { return; }
  function full() { return list.children.length >= Number(list.dataset.max); }
  button.hidden = full();
  button.addEventListener("click", function () {
    var n = list.children.length;
    var item = list.lastElementChild.cloneNode(true);
    var label = item.querySelector("label"), box = item.querySelector("textarea");
    label.htmlFor = box.id = "thread" + n;
    label.textContent = "Part " + (n + 1);
    box.value = "";
    var counter = item.querySelector("ul.counters");
    counter.id = "counters-thread" + n;
    counter.textContent = "";
    item.querySelectorAll(".refusal").forEach(function (p) { p.remove(); });
    list.appendChild(item);
    box.focus();
    button.hidden = full();
  });
})();
