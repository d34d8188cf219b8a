/*
 * credit.c — the receiver's credit arithmetic (see credit.h).
 */
#include "credit.h"

int wr_credit_rx_init(wr_credit_rx *rx, int capacity)
{
    if (capacity < 1)
        capacity = 1;
    rx->capacity = capacity;
    rx->group = capacity / 4 > 1 ? capacity / 4 : 1;
    rx->pending = 0;
    return capacity;
}

int wr_credit_rx_taken(wr_credit_rx *rx)
{
    int n;

    rx->pending++;
    if (rx->pending < rx->group)
        return 0;
    n = rx->pending;
    rx->pending = 0;
    return n;
}
