package openapi

import (
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssegate/ssegate/gateway/mapping"
	"github.com/ssegate/ssegate/gateway/resume"
	"github.com/ssegate/ssegate/gateway/route"
)

// Names of the events the gateway itself sends (package relay).
const (
	EventEnd       = mapping.EventEnd
	EventError     = mapping.EventError
	EventReconnect = mapping.EventReconnect
	EventReset     = mapping.EventReset
)

// streamDescription explains how an SSE route answers.
func streamDescription(rt *route.Route) string {
	resumeText := fmt.Sprintf("it reaches the backend as gRPC metadata `%s`", resume.MetadataKey)
	if f := rt.LastEventIDField; f != nil {
		resumeText = fmt.Sprintf("it fills the request field `%s`", f.JSONName())
	}
	retry := "the gateway's configured reconnection delay"
	if rt.Retry > 0 {
		retry = fmt.Sprintf("a reconnection delay of %d ms", rt.Retry.Milliseconds())
	}
	return fmt.Sprintf("Served as Server-Sent Events when the request's Accept prefers `text/event-stream` "+
		"(q-values count; `*/*` alone does not), else as grpc-gateway's newline-delimited JSON. "+
		"To resume after an event, send its id as Last-Event-ID (EventSource does when it reconnects) "+
		"or, on a first connect, as the `%s` parameter: %s. The first event carries %s.",
		resume.Param, resumeText, retry)
}

// events returns the text/event-stream media type of rt: its itemSchema
// has one alternative per kind of event, named by `event`, with the
// schema of its data.
func (g *generator) events(rt *route.Route) (*mediaType, error) {
	m, err := mapping.New(rt.Method.Output())
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	var idSchema *Schema
	if f := m.IDField(); f != nil {
		idSchema = &Schema{Type: "string", Description: joinText(comment(f), fmt.Sprintf(
			"The value of `%s`. Send it back as Last-Event-ID to resume after this event.", f.JSONName()))}
		if s := scalar(f.Kind()); s.Pattern != "" || s.Type == "integer" {
			idSchema.Pattern = `^-?[0-9]+$`
			if s.Format == "uint32" || s.Format == "uint64" {
				idSchema.Pattern = `^[0-9]+$`
			}
		}
	}

	var alts []*Schema
	seen := map[string]bool{}
	exclusive := true
	for _, k := range m.Kinds() {
		alt := &Schema{Type: "object", Title: k.Name, Required: []string{"data"}}
		switch {
		case k.NameField != nil:
			exclusive = false
			otherwise := "none (the event is a `message`)"
			if k.Name != "" {
				otherwise = "`" + k.Name + "`"
			}
			alt.Title = fmt.Sprintf("named by %s", k.NameField.JSONName())
			alt.Properties = append(alt.Properties, Property{Name: "event", Schema: &Schema{Type: "string",
				Description: fmt.Sprintf("The value of `%s`; %s when that is empty.", k.NameField.JSONName(), otherwise)}})
		case k.Name == "":
			alt.Title = "message"
			alt.Not = &Schema{Required: []string{"event"}}
		default:
			alt.Properties = append(alt.Properties, Property{Name: "event", Schema: &Schema{Const: k.Name}})
			alt.Required = []string{"event", "data"}
		}
		if seen[k.Name] {
			exclusive = false
		}
		seen[k.Name] = true
		if idSchema != nil {
			alt.Properties = append(alt.Properties, Property{Name: "id", Schema: idSchema})
		}
		alt.Properties = append(alt.Properties, Property{Name: "data", Schema: g.eventData(rt.Method.Output(), k)})
		if k.Case != nil {
			alt.Description = comment(k.Case)
		} else {
			alt.Description = comment(rt.Method.Output())
		}
		alts = append(alts, alt)
	}
	for _, alt := range gatewayEvents() {
		name, _ := alt.Properties[0].Schema.Const.(string)
		if seen[name] {
			exclusive = false
		}
		alts = append(alts, alt)
	}

	retry := "the gateway's configured default"
	if rt.Retry > 0 {
		retry = fmt.Sprintf("%d for this stream", rt.Retry.Milliseconds())
	}
	item := &Schema{
		Type:        "object",
		Description: "One event, as an SSE parser such as EventSource delivers it.",
		Properties: Properties{
			{Name: "event", Schema: &Schema{Type: "string", Description: "The `event:` name. EventSource dispatches an event without one as `message`."}},
			{Name: "id", Schema: &Schema{Type: "string", Description: "The `id:`. EventSource keeps the last one and sends it as Last-Event-ID when it reconnects."}},
			{Name: "data", Schema: &Schema{Type: "string", Description: "The `data:` lines, joined with LF."}},
			{Name: "retry", Schema: &Schema{Type: "integer", Minimum: ptr[int64](0), Description: fmt.Sprintf(
				"The reconnection delay in milliseconds (%s), sent with the first event and with `reconnect`.", retry)}},
		},
		Required: []string{"data"},
	}
	if exclusive {
		item.OneOf = alts
	} else {
		item.AnyOf = alts
	}
	return &mediaType{
		Description: "Server-Sent Events. The response starts at once with a `: ok` comment; a comment line is sent " +
			"whenever the stream is idle for the heartbeat interval, so proxies keep it open. Comments are not events.",
		ItemSchema: item,
	}, nil
}

// eventData is the schema of the data of one kind of event: raw text, or
// JSON whose schema is the contentSchema.
func (g *generator) eventData(msg protoreflect.MessageDescriptor, k mapping.Kind) *Schema {
	if k.Raw != nil {
		var about string
		if k.Raw != k.Case {
			about = comment(k.Raw) // the case's own comment describes the event
		}
		return &Schema{Type: "string", Description: joinText(about, fmt.Sprintf(
			"The text of `%s` as it is, not JSON. A text of several lines is sent as several `data:` lines, "+
				"which the client joins with LF: it stays one event.", k.Raw.JSONName()))}
	}
	var content *Schema
	switch {
	case k.Case == nil:
		content = g.schemas.message(msg)
	case k.Case.Message() != nil:
		content = g.schemas.message(k.Case.Message())
	default:
		content = g.schemas.single(k.Case)
	}
	return &Schema{Type: "string", ContentMediaType: "application/json", ContentSchema: content}
}

// gatewayEvents are the events the gateway itself ends a stream with.
func gatewayEvents() []*Schema {
	emptyJSON := func() *Schema {
		return &Schema{Const: "{}", ContentMediaType: "application/json", ContentSchema: &Schema{Type: "object", MaxProperties: ptr(0)}}
	}
	return []*Schema{
		{
			Title: EventEnd, Type: "object", Required: []string{"event", "data"},
			Description: "The stream ended cleanly; this is its last event. Close the EventSource: a reconnect " +
				"would get 204 No Content.",
			Properties: Properties{
				{Name: "event", Schema: &Schema{Const: EventEnd}},
				{Name: "data", Schema: emptyJSON()},
			},
		},
		{
			Title: EventError, Type: "object", Required: []string{"event", "data"},
			Description: "A permanent error after the stream started; this is its last event. Its code is " +
				"UNAUTHENTICATED when the session expires during the stream. EventSource dispatches it to `error` " +
				"listeners as a MessageEvent with data, beside its own connection errors, which have no data. " +
				"Close the EventSource. (A transient failure after the first event sends no event: the stream " +
				"just closes, and EventSource reconnects and resumes.)",
			Properties: Properties{
				{Name: "event", Schema: &Schema{Const: EventError}},
				{Name: "data", Schema: &Schema{Type: "string", ContentMediaType: "application/json", ContentSchema: &Schema{Ref: componentRef(ErrorSchema)}}},
			},
		},
		{
			Title: EventReset, Type: "object", Required: []string{"event", "data"},
			Description: "The resume point (Last-Event-ID) is older than the history the backend still keeps: events " +
				"were lost, and the stream goes on from `oldest`, the oldest id still available. Reload the state the " +
				"page built from earlier events. Sent before the events that follow.",
			Properties: Properties{
				{Name: "event", Schema: &Schema{Const: EventReset}},
				{Name: "retry", Schema: &Schema{Type: "integer", Minimum: ptr[int64](0)}},
				{Name: "data", Schema: &Schema{Type: "string", ContentMediaType: "application/json", ContentSchema: &Schema{
					Type: "object", Required: []string{"oldest"},
					Properties: Properties{{Name: "oldest", Schema: &Schema{Type: "string", Description: "The oldest event id still available."}}},
				}}},
			},
		},
		{
			Title: EventReconnect, Type: "object", Required: []string{"event", "retry", "data"},
			Description: "The gateway is shutting down, the stream reached its maximum lifetime, the backend " +
				"failed for a moment before the first event, or a stream cap is full (then the only event, with a " +
				"long retry); this is its last event. EventSource reconnects after `retry` milliseconds and resumes " +
				"with Last-Event-ID, perhaps on another instance; other clients should do the same.",
			Properties: Properties{
				{Name: "event", Schema: &Schema{Const: EventReconnect}},
				{Name: "retry", Schema: &Schema{Type: "integer", Minimum: ptr[int64](0)}},
				{Name: "data", Schema: emptyJSON()},
			},
		},
	}
}
