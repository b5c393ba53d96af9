// Package webhook is the generic notifier: it POSTs each message as a
// JSON object to an http(s) URL, signed with HMAC-SHA256 when a secret is
// configured. It is not for Slack's incoming webhooks (notify/slack).
//
// The body (every field but kind, message, host, id, event_id and time may
// be absent):
//
//	{"kind": "deployed", "message": "api: v1.2.0 deployed",
//	 "app": "api", "apps": ["api"], "version": "v1.2.0", "host": "web-1",
//	 "id": "<the deploy's ULID, else the event's>", "event_id": "<ULID>",
//	 "deploy_id": "<ULID>", "time": "2026-01-02T15:04:05.123Z",
//	 "failure": false, "title": "...", "url": "...",
//	 "hook": {"name": "before_deploy", "command": "...", "exit_code": 1,
//	          "duration_ms": 2100, "output": "<the end of stdout and stderr>"}}
//
// Headers: Content-Type: application/json, X-Dewy-Event: <kind>,
// X-Dewy-Delivery: <event ULID>, and with a secret
// X-Dewy-Signature: sha256=<hex of HMAC-SHA256(secret, body)>. Any 2xx
// answer is success; redirects are not followed.
package webhook
