/* The service worker of "Notify me" (static/follow.js): shows each Web Push notification and
   opens the timeline at its update. The payload is JSON: {title, body, url, tag, exercise, at, lang}. */
"use strict";
self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (e) { e.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (e) {
  var d = {};
  try { d = e.data ? e.data.json() : {}; } catch (err) { d = { body: e.data.text() }; }
  var zh = String(d.lang || "zh-CN").indexOf("zh") === 0;
  var at = Date.parse(d.at), when = "";
  if (!isNaN(at)) when = new Date(at).toLocaleTimeString(zh ? "zh-CN" : "en", { hour: "2-digit", minute: "2-digit" });
  var title = (d.exercise ? (zh ? "【演练】" : "[EXERCISE] ") : "") + (d.title || (zh ? "新消息" : "New update"));
  var body = (when ? when + " · " : "") + (d.body || "");
  e.waitUntil(self.registration.showNotification(title, {
    body: body, tag: d.tag || "", renotify: !!d.tag, lang: zh ? "zh-CN" : "en",
    timestamp: isNaN(at) ? Date.now() : at, data: { url: d.url || "/" }
  }));
});

self.addEventListener("notificationclick", function (e) {
  e.notification.close();
  var url = new URL((e.notification.data && e.notification.data.url) || "/", self.location.origin);
  if (url.protocol !== "https:" && url.protocol !== "http:") return;
  e.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (list) {
    var page = url.href.split("#")[0];
    for (var i = 0; i < list.length; i++) {
      if (list[i].url.split("#")[0] === page && "focus" in list[i]) {
        var c = list[i];
        return c.focus().then(function () { return c.navigate ? c.navigate(url.href) : c; });
      }
    }
    return self.clients.openWindow(url.href);
  }));
});
