// Expand an iCalendar feed from stdin with Mozilla's ical.js (Thunderbird's parser)
// and print, as JSON, every occurrence between argv[2] and argv[3] (ISO instants):
// recurring masters are expanded with ICAL.Event's iterator, their RECURRENCE-ID
// overrides related first (relateException), EXDATEs honoured by the iterator.
// The feed's own VTIMEZONEs are registered, so conversions use our observances.
import ICAL from "ical.js";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const from = ICAL.Time.fromJSDate(new Date(process.argv[2]), true);
const to = ICAL.Time.fromJSDate(new Date(process.argv[3]), true);

const root = new ICAL.Component(ICAL.parse(input));
for (const vtz of root.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(vtz);
}
const vevents = root.getAllSubcomponents("vevent");
const masters = new Map();
const singles = [];
for (const vevent of vevents) {
  if (vevent.hasProperty("recurrence-id")) continue;
  const event = new ICAL.Event(vevent);
  if (event.isRecurring()) masters.set(event.uid, event);
  else singles.push(event);
}
const orphans = [];
for (const vevent of vevents) {
  if (!vevent.hasProperty("recurrence-id")) continue;
  const override = new ICAL.Event(vevent);
  const master = masters.get(override.uid);
  if (master) master.relateException(override);
  else orphans.push(override);
}
const out = [];
const push = (uid, item, start, end, recurrenceId) => {
  out.push({
    uid,
    summary: item.summary,
    status: item.component.getFirstPropertyValue("status"),
    sequence: item.sequence,
    recurrence_id: recurrenceId,
    start_utc: start.toJSDate().toISOString(),
    end_utc: end.toJSDate().toISOString(),
  });
};
for (const [uid, master] of masters) {
  const it = master.iterator();
  let next;
  let guard = 0;
  while ((next = it.next()) && guard++ < 100000) {
    const details = master.getOccurrenceDetails(next);
    if (details.endDate.compare(from) <= 0) continue;
    if (details.startDate.compare(to) >= 0 && next.compare(to) >= 0) break;
    if (details.startDate.compare(to) >= 0) continue;
    push(uid, details.item, details.startDate, details.endDate, details.recurrenceId.toJSDate().toISOString());
  }
}
for (const event of [...singles, ...orphans]) {
  if (event.endDate.compare(from) <= 0 || event.startDate.compare(to) >= 0) continue;
  push(event.uid, event, event.startDate, event.endDate, null);
}
process.stdout.write(JSON.stringify(out));
