// Package e2e holds the end-to-end tests of the demo: the whole demo (auth,
// jobs and logs services and the gateway serving the page) runs in the test
// process, and Debian's Chromium, driven over the DevTools protocol, uses the
// page as a person would. The tests need /usr/bin/chromium (or the path in
// SSEGATE_CHROMIUM) and fail without it. SSEGATE_E2E_SHOTS names a directory
// that receives a copy of every screenshot.
package e2e
