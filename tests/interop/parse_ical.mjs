// Parse an iCalendar feed from stdin with Mozilla's ical.js (Thunderbird's parser)
// and print, as JSON, each VEVENT with the UTC instants ical.js computes for it.
// The feed's own VTIMEZONEs are registered first, so the conversion uses our
// observances and RRULEs, not a built-in copy of the zone.
import ICAL from "ical.js";

let input = "";
for await (const chunk of process.stdin) input += chunk;

const root = new ICAL.Component(ICAL.parse(input));
for (const vtz of root.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(vtz);
}
const out = {
  calendar: {
    name: root.getFirstPropertyValue("x-wr-calname"),
    method: root.getFirstPropertyValue("method"),
    timezones: root.getAllSubcomponents("vtimezone").map((z) => z.getFirstPropertyValue("tzid")),
  },
  events: root.getAllSubcomponents("vevent").map((vevent) => {
    const event = new ICAL.Event(vevent);
    return {
      uid: event.uid,
      summary: event.summary,
      description: event.description,
      location: event.location,
      sequence: event.sequence,
      status: vevent.getFirstPropertyValue("status"),
      tzid: event.startDate.zone ? event.startDate.zone.tzid : null,
      start_utc: event.startDate.toJSDate().toISOString(),
      end_utc: event.endDate.toJSDate().toISOString(),
      alarms: vevent.getAllSubcomponents("valarm").map((a) => a.getFirstPropertyValue("trigger").toString()),
    };
  }),
};
process.stdout.write(JSON.stringify(out));
