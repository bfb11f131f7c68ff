// Package useragent describes a User-Agent header the way a person names
// their device: "Firefox on Linux". The sessions page uses it so people can
// recognise their own sessions.
package useragent

import (
	uaparser "github.com/medama-io/go-useragent"
	"github.com/medama-io/go-useragent/agents"
)

// Unknown is what Describe says when it cannot name the browser.
const Unknown = "Unknown browser"

// osNames spells the parser's operating systems the way their makers do.
var osNames = map[agents.OS]string{
	agents.OSMacOS: "macOS",
}

// Describe returns "BROWSER on OS", just "BROWSER" when the system is not
// recognised, and Unknown when the browser is not (curl, bots, an empty
// header). It never fails: the header is whatever the client sent.
func Describe(ua string) string {
	if ua == "" {
		return Unknown
	}
	// NewParser builds its trie once per process and returns the same
	// parser afterwards, so calling it here costs nothing after the first
	// time and keeps the start of the server fast.
	agent := uaparser.NewParser().Parse(ua)
	browser := agent.Browser()
	if browser == "" {
		return Unknown
	}
	os := agent.OS()
	if os == "" {
		return string(browser)
	}
	name, ok := osNames[os]
	if !ok {
		name = string(os)
	}
	return string(browser) + " on " + name
}
