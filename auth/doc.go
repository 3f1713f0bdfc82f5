// Package auth decides who may log in to ringex and how much they may do:
// the users table (reloadable, with two keys per user during a rotation),
// the login throttle across connections, per-user request rate limits and
// session limits, and the audit trail of all of it.
//
// Its invariants:
//
//   - A failed login is counted against its source address and its user
//     name, whatever connection it came on; past a threshold within a
//     window, further logins from that address (or for that name) are
//     refused for a back-off period before the key is even hashed.
//   - A user's request rate is one token bucket shared by all of the
//     user's sessions, looked up once at login; taking a token is one
//     CAS on that user's own word (limiter.go), so one user's traffic
//     never waits on another's.
//   - After a reload, no session stays logged in with a key the new table
//     does not hold for its user: each such session is revoked (its
//     server logs it out) before Reload returns.
//   - Every login, failure, block, end of session, revocation and key
//     change is one structured log line carrying the user, the client's
//     address and the session id, and is counted on the registry.
package auth
