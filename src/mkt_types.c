/* mkt_types.c — names and orders of the shared row types (see mkt_types.h). */
#include "mkt_types.h"

#include <stddef.h>
#include <strings.h>

static const char *const event_type_names[MKT_EV_NTYPES] = {"view", "click", "cart", "fav", "purchase", "rating"};

const char *mkt_event_type_name(int type)
{
    if (type < 0 || type >= MKT_EV_NTYPES)
        return NULL;
    return event_type_names[type];
}

int mkt_event_type_parse(const char *name)
{
    if (name == NULL)
        return -1;
    for (int t = 0; t < MKT_EV_NTYPES; t++)
        if (strcasecmp(name, event_type_names[t]) == 0)
            return t;
    /* common synonyms in public logs */
    if (strcasecmp(name, "pv") == 0)
        return MKT_EV_VIEW;
    if (strcasecmp(name, "buy") == 0 || strcasecmp(name, "order") == 0)
        return MKT_EV_PURCHASE;
    if (strcasecmp(name, "addtocart") == 0 || strcasecmp(name, "add_to_cart") == 0)
        return MKT_EV_CART;
    if (strcasecmp(name, "favorite") == 0 || strcasecmp(name, "favourite") == 0)
        return MKT_EV_FAV;
    return -1;
}

#define CMP(x, y) (((x) > (y)) - ((x) < (y)))

int mkt_event_cmp_user(const void *a, const void *b)
{
    const mkt_event *x = a, *y = b;
    int c = CMP(x->user, y->user);
    if (c == 0)
        c = CMP(x->ts, y->ts);
    if (c == 0)
        c = CMP(x->order, y->order);
    return c;
}

int mkt_event_cmp_item(const void *a, const void *b)
{
    const mkt_event *x = a, *y = b;
    int c = CMP(x->item, y->item);
    if (c == 0)
        c = CMP(x->ts, y->ts);
    if (c == 0)
        c = CMP(x->order, y->order);
    return c;
}

int mkt_campaign_cmp_user(const void *a, const void *b)
{
    const mkt_campaign_row *x = a, *y = b;
    int c = CMP(x->user, y->user);
    if (c == 0)
        c = CMP(x->order, y->order);
    return c;
}
