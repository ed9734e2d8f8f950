/*
 * Capturing the Contentsquare session identifiers in the browser.
 *
 * The Contentsquare tag calls "afterPageView" callbacks after each page view (also the
 * virtual page views of a single-page app) with a context whose `projectId` is the
 * Contentsquare project and whose `sessionKey` is "<userId>.<sessionNumber>".
 *
 * Include this file on the pages where your own event can start (a phone number shown, a
 * survey opened), then register the function that stores the identifiers with that event,
 * for example in a hidden form field or with the call-tracking number you display:
 *
 *   captureContentsquareSession(function (session) {
 *     // session.projectId: 123456, session.userId: "a1b2c3", session.sessionNumber: 7
 *     myTracker.remember("cs_session", session);
 *   });
 *
 * Server-side, send session.userId and session.sessionNumber as `userId` and
 * `sessionNumber` of the enrichment, with the credentials of session.projectId.
 * If you store the raw key instead, split it in Python with parse_session_key().
 *
 * The callback may run several times on one page; nothing is sent anywhere by this file.
 * It works whether it runs before or after the tag has loaded.
 */
(function (window) {
  "use strict";

  var INT_MAX = 2147483647; // sessionNumber and projectId are int32

  // A positive int32, from a number or its ASCII digits ("007" is 7); null for anything
  // else.
  function positiveInt(value) {
    var number = value;
    if (typeof value === "string") {
      var significant = value.replace(/^0+/, "");
      number = /^[0-9]{1,10}$/.test(significant) ? Number(significant) : null;
    }
    if (typeof number !== "number" || Math.floor(number) !== number ||
        number < 1 || number > INT_MAX) {
      return null;
    }
    return number;
  }

  // "a1b2c3.7" -> {userId: "a1b2c3", sessionNumber: 7}; null for anything else.
  // The session number is what follows the last dot. ASCII spaces around the key go,
  // and only they, as in parse_session_key() in Python (String.trim() takes more).
  function splitSessionKey(sessionKey) {
    if (typeof sessionKey !== "string") {
      return null;
    }
    sessionKey = sessionKey.replace(/^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g, "");
    var dot = sessionKey.lastIndexOf(".");
    var userId = sessionKey.slice(0, dot);
    var digits = sessionKey.slice(dot + 1);
    var sessionNumber = /^[0-9]+$/.test(digits) ? positiveInt(digits) : null;
    if (dot < 1 || sessionNumber === null) {
      return null;
    }
    return { userId: userId, sessionNumber: sessionNumber };
  }

  function captureContentsquareSession(handler) {
    if (typeof handler !== "function") {
      throw new TypeError("captureContentsquareSession needs a function");
    }
    // Before the tag loads, _uxa is a plain array of commands; the tag replays it.
    window._uxa = window._uxa || [];
    window._uxa.push([
      "afterPageView",
      function (context) {
        var session = splitSessionKey(context && context.sessionKey);
        var projectId = context ? positiveInt(context.projectId) : null;
        if (session === null || projectId === null) {
          return;
        }
        handler({
          projectId: projectId,
          userId: session.userId,
          sessionNumber: session.sessionNumber,
        });
      },
    ]);
  }

  window.captureContentsquareSession = captureContentsquareSession;
  window.splitContentsquareSessionKey = splitSessionKey;
})(window);
