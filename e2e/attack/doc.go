// Package attack is the demo's attack suite: it builds the demo's binaries
// (ssegate, ssegate-auth, ssegate-jobs, ssegate-logs), starts them once as
// separate processes on loopback, wired as the README says (identity key
// files, session revocations, two plain gateways and one under TLS), and
// then tries, from outside, what an attacker would: copied cookies after
// sign-out, forged tokens sent straight to a backend, password guessing,
// oversized and slow bodies, DNS rebinding, links and FIFOs in the tailed
// log directory, and more. Each attack is a row of one table, and the test
// fails, naming the row, on any attack that gets through; run it with -v to
// see the table of attacks and results.
//
// The suite has no code outside its tests; this file only documents it.
package attack
