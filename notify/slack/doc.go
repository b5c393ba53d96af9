// Package slack is the Slack notifier: chat.postMessage with a bot token
// (github.com/slack-go/slack), or an incoming webhook. Each message is a
// line of text with an attachment: the notifier's title (linked to its
// url), what happened, and the app, version, host and ULID as fields; a
// deploy hook's result (command, exit code, duration, the end of its
// output) is a second attachment.
//
// URL forms (see FromPlan): slack://CHANNEL posts with the bot token in
// SLACK_TOKEN; slack://CHANNEL?webhook_env=NAME posts to the incoming
// webhook whose URL is in the variable NAME; without a token and without
// webhook_env, the incoming webhook in SLACK_WEBHOOK_URL is used. Neither
// the token nor the webhook's URL (which is its secret) ever appears in
// Name or in an error.
package slack
