/* Read an iCalendar file from stdin with libical (GNOME Evolution's parser) and
 * print, as JSON, what libical makes of it:
 *   {"errors": [...], "events": [{"uid": ..., "start": epoch, "end": epoch}, ...]}
 * "errors" are the X-LIC-ERROR properties libical adds while parsing and while
 * checking RFC 5546 restrictions (icalrestriction_check). Event times with a
 * TZID are resolved through the file's own VTIMEZONEs, as Evolution does.
 * Built by tests/integration/test_calendar_readers.py: cc this.c -lical
 */
#include <libical/ical.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_json_string(const char *s) {
    putchar('"');
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            putchar('\\');
            putchar(c);
        } else if (c < 0x20) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

static int errors_in(icalcomponent *comp, int count) {
    for (icalproperty *p = icalcomponent_get_first_property(comp, ICAL_XLICERROR_PROPERTY); p;
         p = icalcomponent_get_next_property(comp, ICAL_XLICERROR_PROPERTY)) {
        if (count++) putchar(',');
        print_json_string(icalproperty_get_xlicerror(p));
    }
    for (icalcomponent *c = icalcomponent_get_first_component(comp, ICAL_ANY_COMPONENT); c;
         c = icalcomponent_get_next_component(comp, ICAL_ANY_COMPONENT)) {
        count = errors_in(c, count);
    }
    return count;
}

static long long epoch(struct icaltimetype t) {
    icaltimezone *zone = (icaltimezone *)t.zone;
    if (zone == NULL) zone = icaltimezone_get_utc_timezone();
    return (long long)icaltime_as_timet_with_zone(t, zone);
}

int main(void) {
    size_t size = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + size, 1, cap - size - 1, stdin)) > 0) {
        size += got;
        if (cap - size < 2) buf = realloc(buf, cap *= 2);
    }
    buf[size] = '\0';
    icalcomponent *cal = icalparser_parse_string(buf);
    if (cal == NULL) {
        printf("{\"errors\": [\"unparseable\"], \"events\": []}\n");
        return 0;
    }
    icalrestriction_check(cal);
    printf("{\"errors\": [");
    errors_in(cal, 0);
    printf("], \"events\": [");
    int n = 0;
    for (icalcomponent *ev = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT); ev;
         ev = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT)) {
        if (n++) putchar(',');
        printf("{\"uid\": ");
        print_json_string(icalcomponent_get_uid(ev));
        printf(", \"summary\": ");
        print_json_string(icalcomponent_get_summary(ev));
        printf(", \"start\": %lld, \"end\": %lld}", epoch(icalcomponent_get_dtstart(ev)),
               epoch(icalcomponent_get_dtend(ev)));
    }
    printf("]}\n");
    icalcomponent_free(cal);
    free(buf);
    return 0;
}
