// Send the CSRF token with every htmx request (flask-wtf reads X-CSRFToken).
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) { event.detail.headers["X-CSRFToken"] = meta.content; }
});

// An htmx request answered with an error status swaps nothing: show its message
// instead of leaving the click without an answer.
document.addEventListener("htmx:responseError", function (event) {
  var xhr = event.detail.xhr;
  var box = document.getElementById("oms-request-error");
  if (!box) {
    box = document.createElement("p");
    box.id = "oms-request-error";
    box.className = "error";
    box.setAttribute("role", "alert");
    document.querySelector("main").prepend(box);
  }
  var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
  var text = (doc.body && doc.body.textContent || "").trim();
  box.textContent = text && text.length < 500 ? text : "The request failed (" + xhr.status + "). Please reload the page.";
});
