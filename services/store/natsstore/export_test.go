package natsstore

// WithoutPublishing makes a store commit batches but never publish their
// events afterwards, as a writer that dies right after each commit: the
// next batch, or another store, must do it.
func WithoutPublishing() Option { return func(c *config) { c.noPublish = true } }

// WithLaggingLeader makes every other read of a stream's metadata answer
// with what the read before it got, as a leader that has not yet applied a
// write a follower has delivered.
func WithLaggingLeader() Option { return func(c *config) { c.laggingLeader = true } }

// WithoutChangeWatch opens a store without its change watch, as one whose
// watch is lost for a while.
func WithoutChangeWatch() Option { return func(c *config) { c.noWatch = true } }
