// Package useragent describes a User-Agent header the way a person names
// their device: "Firefox on Linux". The sessions and activity pages use it
// so people can recognise their own sessions, and the new-device mail
// compares its descriptions.
//
// It wraps github.com/mileusna/useragent, which reads the header's tokens
// with a few string comparisons. The parser used before built a trie of
// 5 MiB of small objects at the first sign-in and kept it: every garbage
// collection marked it again, which cost about 10% of a sign-in's CPU
// under load (docs/PERFORMANCE.md).
package useragent

import (
	ua "github.com/mileusna/useragent"
)

// Unknown is what Describe says when it cannot name the browser.
const Unknown = "Unknown browser"

// browsers are the parser's browser names that Describe shows, spelled
// the way their makers do. Any other name is shown only with a known
// system, so tools (curl, Go-http-client) and crawlers stay Unknown.
var browsers = map[string]string{
	ua.Chrome:           "Chrome",
	ua.HeadlessChrome:   "Chrome",
	ua.Firefox:          "Firefox",
	ua.Safari:           "Safari",
	ua.Edge:             "Edge",
	ua.Opera:            "Opera",
	ua.OperaMini:        "Opera Mini",
	ua.OperaTouch:       "Opera Touch",
	ua.Vivaldi:          "Vivaldi",
	ua.SamsungBrowser:   "Samsung Internet",
	ua.InternetExplorer: "Internet Explorer",
	"Trident":           "Internet Explorer", // 11 names only its engine
}

// MaxLen is how much of a header Describe reads. Real browsers send well
// under 300 bytes; the parser's time grows with the length (a quarter of a
// second for a crafted megabyte), and the handlers keep only 512 bytes.
const MaxLen = 512

// Describe returns "BROWSER on OS", just "BROWSER" when the system is not
// recognised, and Unknown when the browser is not (curl, bots, an empty
// header). It never fails: the header is whatever the client sent.
func Describe(header string) string {
	if header == "" {
		return Unknown
	}
	if len(header) > MaxLen {
		header = header[:MaxLen]
	}
	agent := ua.Parse(header)
	os := agent.OS // spelled as the makers do: macOS, iOS, ChromeOS
	browser, known := browsers[agent.Name]
	if !known {
		// A name the table does not know is shown only for a client on
		// a known system that does not call itself a bot (an in-app
		// browser, a newer browser): tools and crawlers name no system.
		if agent.Name == "" || agent.Bot || os == "" {
			return Unknown
		}
		browser = agent.Name
	}
	if os == "" {
		return browser
	}
	return browser + " on " + os
}
