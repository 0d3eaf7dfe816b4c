package natsstore

// WithoutPublishing makes a store commit batches but never publish their
// events afterwards, as a writer that dies right after each commit: the
// next batch, or another store, must do it.
func WithoutPublishing() Option { return func(c *config) { c.noPublish = true } }
