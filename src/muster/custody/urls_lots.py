"""Web routes; included from muster/urls.py."""

from django.urls import path

from muster.custody import views_lots, views_lots_stock

urlpatterns: list = [
    path("lots/", views_lots.LotIndexView.as_view(), name="lot-index"),
    path("lots/receive/", views_lots_stock.LotReceiveView.as_view(), name="lot-receive"),
    path("lots/<int:pk>/", views_lots.LotPageView.as_view(), name="lot-page"),
    path("lots/<int:pk>/issue/", views_lots.LotIssueView.as_view(), name="lot-issue"),
    path("lots/<int:pk>/return/", views_lots.LotReturnView.as_view(), name="lot-return"),
    path("lots/<int:pk>/settle/", views_lots.LotSettleView.as_view(), name="lot-settle"),
    path("lots/<int:pk>/expend/", views_lots.LotExpendView.as_view(), name="lot-expend"),
    path("lots/<int:pk>/loss/", views_lots.LotLossView.as_view(), name="lot-loss"),
    path("lots/<int:pk>/recall/", views_lots.LotRecallView.as_view(), name="lot-recall"),
    path("lots/cases/<int:pk>/recover/", views_lots_stock.LotRecoverView.as_view(), name="lot-recover"),
]
